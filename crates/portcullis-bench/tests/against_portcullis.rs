//! The load generator against the real Portcullis binary (tests/e2e/tenant.yaml plus a
//! machine-to-machine client): each scenario runs briefly with no error, and failures show
//! up as errors and a non-zero exit.
//!
//! The Portcullis binary is not built here: it is `$PORTCULLIS_BIN`, or `portcullis` next to
//! this crate's binary in the same target directory (`scripts/test` builds every workspace
//! binary before running the tests; by hand, `cargo build -p portcullis` first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const M2M_ID: &str = "bench-m2m";
const M2M_SECRET: &str = "bench-m2m-secret-0123456789abcdefghijklmnop";

fn portcullis_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("PORTCULLIS_BIN") {
        return PathBuf::from(path);
    }
    let bench = Path::new(env!("CARGO_BIN_EXE_portcullis-bench"));
    let path = bench.with_file_name(format!("portcullis{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "no Portcullis binary at {}: run `cargo build -p portcullis` (or `cargo build --workspace`) \
         first, or set PORTCULLIS_BIN",
        path.display()
    );
    path
}

/// tests/e2e/tenant.yaml plus a non-interactive client with a client grant for the e2e API.
fn tenant_file(dir: &Path) -> PathBuf {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/tenant.yaml");
    let text = std::fs::read_to_string(&e2e).unwrap();
    let m2m = format!(
        "clients:\n  - name: Bench M2M\n    client_id: {M2M_ID}\n    client_secret: {M2M_SECRET}\n    \
         app_type: non_interactive\n    grant_types: [client_credentials]\n    \
         token_endpoint_auth_method: client_secret_basic\n"
    );
    assert!(text.contains("\nclients:\n"), "{}", e2e.display());
    let mut tenant = text.replacen("\nclients:\n", &format!("\n{m2m}"), 1);
    tenant.push_str(&format!(
        "clientGrants:\n  - client_id: {M2M_ID}\n    audience: \"https://e2e-api.test/\"\n    scope: [\"read:items\"]\n"
    ));
    let path = dir.join("tenant.yaml");
    std::fs::write(&path, tenant).unwrap();
    path
}

/// A `portcullis serve` on a free loopback port with a fresh SQLite database, killed on drop.
struct Server {
    child: Child,
    lines: Receiver<String>,
    issuer: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let tenant = tenant_file(dir.path());
        let database = format!("sqlite://{}", dir.path().join("b.db").display());
        let mut cmd = Command::new(portcullis_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
            .arg("--tenant")
            .arg(&tenant)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The server reads every PORTCULLIS_* variable as configuration: inherit none.
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PORTCULLIS_")) {
            cmd.env_remove(k);
        }
        cmd.envs([
            ("RUST_LOG", "warn"),
            ("PORTCULLIS_DEMO", "false"),
            (
                "PORTCULLIS_MASTER_KEY",
                "bench-test-master-key-0123456789abcdefghijklmnop",
            ),
            ("PORTCULLIS_PASSWORD_HASHING__MEMORY_KIB", "1024"),
            ("PORTCULLIS_PASSWORD_HASHING__ITERATIONS", "1"),
            // The default (10 at once, 30/min per token and IP) would throttle the refresh loop.
            ("PORTCULLIS_RATE_LIMITS__REFRESH_BURST", "1000000"),
            ("PORTCULLIS_RATE_LIMITS__REFRESH_PER_MINUTE", "1000000"),
        ]);
        let mut child = cmd.spawn().unwrap();
        let (send, lines) = channel();
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let send = send.clone();
            // Drained to the end, so the server never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = send.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        let issuer = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => match line.split_once("Portcullis is listening. Issuer: ") {
                    Some((_, issuer)) => break issuer.trim().to_owned(),
                    None => seen.push(line),
                },
                Err(e) => panic!(
                    "no issuer line ({e}); the server wrote:\n{}",
                    seen.join("\n")
                ),
            }
        };
        Server {
            child,
            lines,
            issuer,
            dir,
        }
    }

    /// A target file for this server; `extra` is appended (TOML lines).
    fn target(&self, extra: &str) -> PathBuf {
        let path = self.dir.path().join("target.toml");
        std::fs::write(
            &path,
            format!(
                r#"issuer = "{issuer}"
client_id = "e2e-web"
client_secret = "e2e-web-secret-0123456789abcdefghijklmnop"
token_auth = "client_secret_basic"
redirect_uri = "http://127.0.0.1:8976/callback"
username = "alice@example.com"
audience = "https://e2e-api.test/"
scope = "openid profile email"
refresh_scope = "openid offline_access read:items"
cc_client_id = "{M2M_ID}"
cc_client_secret = "{M2M_SECRET}"
{extra}
"#,
                issuer = self.issuer
            ),
        )
        .unwrap();
        path
    }

    /// What the server wrote so far (for failure messages).
    fn output(&self) -> String {
        self.lines.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the load generator; returns its exit status output and its JSON line.
fn bench(target: &Path, scenario: &str, args: &[&str]) -> (Output, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis-bench"))
        .arg("--target")
        .arg(target)
        .args(["--scenario", scenario])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON line; stdout:\n{stdout}\nstderr:\n{stderr}"));
    (out, json)
}

/// Runs `scenario` briefly against a fresh server and checks it ran without an error.
fn runs_cleanly(scenario: &str, extra_target: &str) {
    let server = Server::start();
    let target = server.target(&format!(
        "password = \"correct horse battery staple\"\n{extra_target}"
    ));
    let (out, json) = bench(
        &target,
        scenario,
        &["--concurrency", "2", "--warmup", "0", "--duration", "1"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let context = || {
        format!(
            "stdout:\n{stdout}\nstderr:\n{}\nserver:\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.output()
        )
    };
    assert!(out.status.success(), "{}", context());
    assert_eq!(json["errors"], 0, "{}", context());
    assert!(json["iterations"].as_u64().unwrap() > 0, "{}", context());
    assert_eq!(json["scenario"], scenario);
    assert_eq!(json["concurrency"], 2);
    assert!(json["p99_ms"].as_f64().unwrap() >= json["p50_ms"].as_f64().unwrap());
    assert!(
        stdout.starts_with(&format!("{scenario} C=2: ")) && stdout.contains("errors 0 (n="),
        "{}",
        context()
    );
}

#[test]
fn full_login_walks_the_login_and_consent_pages_with_a_fresh_jar_each_time() {
    runs_cleanly("full-login", "");
}

#[test]
fn sso_rides_the_session_to_a_code() {
    runs_cleanly("sso", "");
}

#[test]
fn sso_with_prompt_consent_answers_the_consent_page_in_every_iteration() {
    runs_cleanly("sso", "extra_authorize_params = { prompt = \"consent\" }");
}

#[test]
fn refresh_follows_the_rotating_chain() {
    runs_cleanly("refresh", "");
}

#[test]
fn client_credentials_gets_a_token_for_the_api() {
    runs_cleanly("client-credentials", "");
}

#[test]
fn userinfo_answers_with_the_access_token_of_one_login() {
    runs_cleanly("userinfo", "");
}

#[test]
fn jwks_has_keys() {
    runs_cleanly("jwks", "");
}

#[test]
fn a_wrong_password_is_counted_as_errors_and_fails_the_run_unless_allowed() {
    let server = Server::start();
    let target = server.target("password = \"not the password\"");
    let args = [
        "--concurrency",
        "1",
        "--warmup",
        "0",
        "--duration",
        "10",
        "--max-iterations",
        "2",
    ];
    let (out, json) = bench(&target, "full-login", &args);
    assert_eq!(out.status.code(), Some(1), "{json}");
    assert_eq!(json["errors"], 2, "{json}");
    assert_eq!(json["iterations"], 0, "{json}");
    let sample = json["error_samples"][0].as_str().unwrap();
    assert!(
        sample.contains("the login page came back"),
        "{json}\nserver:\n{}",
        server.output()
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(sample));

    let (out, json) = bench(
        &target,
        "full-login",
        &[&args[..], &["--allow-errors"]].concat(),
    );
    assert!(out.status.success(), "{json}");
    assert!(json["errors"].as_u64().unwrap() > 0, "{json}");
}
