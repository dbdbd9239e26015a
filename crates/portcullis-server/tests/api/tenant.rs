//! Tenant files: idempotent import, all-or-nothing.

use crate::helpers::*;

#[tokio::test]
async fn importing_the_same_file_twice_updates_instead_of_duplicating() {
    let app = TestApp::spawn().await;
    let file = portcullis_core::tenant::parse(TENANT).unwrap();
    let applied = portcullis_server::tenant::apply(&app.state, &file)
        .await
        .unwrap();
    assert!(
        applied.outcomes.iter().all(|o| !o.created),
        "second import creates nothing"
    );
    assert!(applied.generated_secrets.is_empty());
    // Still one Web App, with the same secret: the flow works.
    let code = code_for_alice(&app).await;
    assert_eq!(app.exchange(&code).await.status(), reqwest::StatusCode::OK);
}

#[tokio::test]
async fn a_new_client_without_a_secret_gets_one_generated_and_matches_by_name_later() {
    let app = TestApp::spawn().await;
    let text = "clients: [{name: Fresh, callbacks: ['https://fresh.example/cb']}]";
    let first = portcullis_server::tenant::apply(
        &app.state,
        &portcullis_core::tenant::parse(text).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(first.generated_secrets.len(), 1);
    let (_, client_id, _) = &first.generated_secrets[0];
    let second = portcullis_server::tenant::apply(
        &app.state,
        &portcullis_core::tenant::parse(text).unwrap(),
    )
    .await
    .unwrap();
    assert!(second.generated_secrets.is_empty());
    assert_eq!(&second.outcomes[0].id, client_id);
}

#[tokio::test]
async fn an_import_that_fails_in_the_store_applies_nothing() {
    let app = TestApp::spawn().await;
    // Valid for the parser; the second client collides with an existing client's name
    // under another client_id, which the store refuses: the first must not be created.
    let text = "clients:\n  - {name: Brand New, callbacks: ['https://n.example/cb']}\n  - {name: Web App, client_id: other-id, client_secret: 0123456789abcdef0123456789abcdef}\n";
    let file = portcullis_core::tenant::parse(text).unwrap();
    assert!(
        portcullis_server::tenant::apply(&app.state, &file)
            .await
            .is_err()
    );
    let again = portcullis_server::tenant::apply(
        &app.state,
        &portcullis_core::tenant::parse(
            "clients: [{name: Brand New, callbacks: ['https://n.example/cb']}]",
        )
        .unwrap(),
    )
    .await
    .unwrap();
    assert!(
        again.outcomes[0].created,
        "the failed import left nothing behind"
    );
}
