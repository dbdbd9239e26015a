//! Operations endpoints: `/healthz`, `/readyz` and the Prometheus `/metrics`.

use reqwest::StatusCode;

use crate::helpers::*;

/// The value of the first sample named `name` whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            if metric != name {
                return None;
            }
            let pairs: Vec<(&str, &str)> = rest
                .trim_end_matches('}')
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once("=\"")?;
                    Some((k, v.trim_end_matches('"')))
                })
                .collect();
            labels
                .iter()
                .all(|l| pairs.contains(l))
                .then(|| value.parse().unwrap())
        })
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.backend().get(app.url(path)).send().await.unwrap()
}

async fn metrics(app: &TestApp) -> String {
    let r = get(app, "/metrics").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.text().await.unwrap()
}

#[tokio::test]
async fn health_and_readiness_answer_ok() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let r = get(&app, path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"),
            "{path}"
        );
        assert_eq!(r.text().await.unwrap(), "ok", "{path}");
    }
}

#[tokio::test]
async fn readiness_fails_without_the_migrations_but_health_does_not() {
    let app = TestApp::spawn().await;
    app.execute_sql("drop table _sqlx_migrations").await;
    let r = get(&app, "/readyz").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = r.text().await.unwrap();
    assert_eq!(body, "database unavailable", "no details leak: {body}");
    assert_eq!(get(&app, "/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_logins_tokens_and_requests_by_route() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let login = location(&browser.authorize(&web_params()).await);
    let failed = browser.login(&login, ALICE, "not the password").await;
    assert_eq!(failed.status(), StatusCode::BAD_REQUEST);
    let r = app.exchange(&code_for_alice(&app).await).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        get(&app, "/no/such/page-7f3a").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/api/v2/users/auth0|someone-9c1d").await.status(),
        StatusCode::UNAUTHORIZED
    );

    let text = metrics(&app).await;
    let value = |name, labels: &[(&str, &str)]| sample(&text, name, labels);
    let tokens = "portcullis_tokens_issued_total";
    assert_eq!(
        value(tokens, &[("grant_type", "authorization_code")]),
        Some(1.0)
    );
    assert_eq!(value(tokens, &[("grant_type", "refresh_token")]), Some(0.0));
    // The code exchange signed an access token and an ID token, and the keys timed both.
    let algs = ["RS256", "PS256", "ES256", "EdDSA"];
    let signatures: f64 = algs
        .iter()
        .filter_map(|alg| value("portcullis_signatures_total", &[("alg", alg)]))
        .sum();
    assert_eq!(signatures, 2.0, "{text}");
    let signing: f64 = algs
        .iter()
        .filter_map(|alg| value("portcullis_signing_cpu_seconds_total", &[("alg", alg)]))
        .sum();
    assert!(signing > 0.0, "{text}");
    let logins = "portcullis_logins_total";
    assert_eq!(value(logins, &[("result", "success")]), Some(1.0));
    assert_eq!(value(logins, &[("result", "failure")]), Some(1.0));
    assert_eq!(value(logins, &[("result", "throttled")]), Some(0.0));

    let requests = "portcullis_http_requests_total";
    let token = ("endpoint", "/oauth/token");
    assert_eq!(
        value(requests, &[token, ("method", "POST"), ("status", "200")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            "portcullis_http_request_duration_seconds_count",
            &[token, ("method", "POST")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            requests,
            &[
                ("endpoint", "/u/login"),
                ("method", "POST"),
                ("status", "400")
            ]
        ),
        Some(1.0),
        "the failed login"
    );
    assert_eq!(
        value(
            requests,
            &[("endpoint", "/api/v2/users/{id}"), ("status", "401")]
        ),
        Some(1.0),
        "the route pattern, not the path"
    );
    assert_eq!(
        value(requests, &[("endpoint", "unmatched"), ("status", "404")]),
        Some(1.0)
    );
    assert!(
        !text.contains("page-7f3a") && !text.contains("someone-9c1d"),
        "no raw path in the labels: {text}"
    );

    for state in ["open", "idle"] {
        assert!(
            value("portcullis_db_pool_connections", &[("state", state)]).is_some(),
            "{state}: {text}"
        );
    }
    assert!(value("portcullis_db_pool_max_connections", &[]).unwrap() >= 1.0);
}

#[tokio::test]
async fn each_app_counts_only_its_own_requests() {
    let (one, other) = (TestApp::spawn().await, TestApp::spawn().await);
    let r = one
        .token(
            &[("grant_type", "client_credentials"), ("audience", API)],
            Some((M2M, M2M_SECRET)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let counted = |text: &str| {
        sample(
            text,
            "portcullis_tokens_issued_total",
            &[("grant_type", "client_credentials")],
        )
    };
    assert_eq!(counted(&metrics(&one).await), Some(1.0));
    assert_eq!(counted(&metrics(&other).await), Some(0.0));
}
