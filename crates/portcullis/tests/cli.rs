//! The command line: configuration errors and tenant imports, through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn portcullis(args: &[&str], dir: &std::path::Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PORTCULLIS_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn config_check_prints_the_effective_config_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("portcullis.toml"),
        "listen = \"127.0.0.1:9999\"\n[password_hashing]\nmemory_kib = 8192\n",
    )
    .unwrap();
    let secret = "a master key that is long enough to be accepted";
    let out = portcullis(
        &["config", "check", "--public-url", "https://id.example"],
        dir.path(),
        &[("PORTCULLIS_MASTER_KEY", secret)],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("listen = \"127.0.0.1:9999\""), "{t}");
    assert!(t.contains("public_url = \"https://id.example/\""), "{t}");
    assert!(t.contains("memory_kib = 8192"), "{t}");
    assert!(
        t.contains("master_key = \"<redacted>\"") && !t.contains(secret),
        "{t}"
    );
}

#[test]
fn config_errors_name_the_key_and_fail() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("portcullis.toml"),
        "listen = \"not an address\"\n",
    )
    .unwrap();
    let out = portcullis(&["config", "check"], dir.path(), &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("listen"), "{}", text(&out));
    let out = portcullis(
        &["config", "check", "--config", "missing.toml"],
        dir.path(),
        &[],
    );
    assert!(!out.status.success());
}

#[test]
fn tenant_import_applies_a_file_and_names_the_field_of_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("PORTCULLIS_PASSWORD_HASHING__MEMORY_KIB", "1024"),
        ("PORTCULLIS_PASSWORD_HASHING__ITERATIONS", "1"),
    ];
    std::fs::write(
        dir.path().join("good.yaml"),
        "clients: [{name: App, callbacks: ['https://app.example/cb']}]\nusers: [{email: a@example.com, password: long enough}]\nrules: []\n",
    )
    .unwrap();
    let out = portcullis(&["tenant", "import", "good.yaml"], dir.path(), &env);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("client_secret") && t.contains("shown once"),
        "a generated secret is printed: {t}"
    );
    assert!(
        t.contains("rules: section not supported yet, ignored"),
        "{t}"
    );
    assert!(
        dir.path().join("portcullis.db").exists()
            && dir.path().join("portcullis.db.master-key").exists()
    );

    std::fs::write(
        dir.path().join("bad.yaml"),
        "clients: [{name: App, callbacks: ['javascript:alert(1)']}]\n",
    )
    .unwrap();
    let out = portcullis(&["tenant", "import", "bad.yaml"], dir.path(), &env);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("clients[0] (\"App\").callbacks[0]"),
        "{}",
        text(&out)
    );
}

#[cfg(unix)]
#[test]
fn the_generated_master_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = portcullis(&["tenant", "import", "t.yaml"], dir.path(), &[]);
    assert!(!out.status.success(), "the file is missing");
    std::fs::write(
        dir.path().join("t.yaml"),
        "resourceServers: [{name: A, identifier: 'https://a.example/'}]\n",
    )
    .unwrap();
    assert!(
        portcullis(&["tenant", "import", "t.yaml"], dir.path(), &[])
            .status
            .success()
    );
    let mode = std::fs::metadata(dir.path().join("portcullis.db.master-key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
