//! The command line: configuration errors, tenant imports and a served request's JSON
//! log line, through the real binary.

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

const CHEAP: [(&str, &str); 2] = [
    ("PORTCULLIS_PASSWORD_HASHING__MEMORY_KIB", "1024"),
    ("PORTCULLIS_PASSWORD_HASHING__ITERATIONS", "1"),
];

fn ok(o: Output) -> String {
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn resources_are_managed_from_the_command_line_with_the_management_api_rules() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api: serde_json::Value = serde_json::from_str(&ok(portcullis(&["apis", "create", r#"{"name":"Orders","identifier":"https://orders.example/","scopes":[{"value":"read:orders"}]}"#], d, &CHEAP))).unwrap();
    assert!(api["id"].as_str().unwrap().starts_with("rs_"));
    let client: serde_json::Value = serde_json::from_str(&ok(portcullis(
        &[
            "clients",
            "create",
            r#"{"name":"Shop","app_type":"non_interactive","grant_types":["client_credentials"]}"#,
        ],
        d,
        &CHEAP,
    )))
    .unwrap();
    assert!(
        client["client_secret"].as_str().unwrap().len() >= 32,
        "the secret is shown once"
    );
    let id = client["client_id"].as_str().unwrap();
    ok(portcullis(
        &[
            "grants",
            "create",
            &format!(
                r#"{{"client_id":"{id}","audience":"https://orders.example/","scope":["read:orders"]}}"#
            ),
        ],
        d,
        &CHEAP,
    ));
    let user: serde_json::Value = serde_json::from_str(&ok(portcullis(
        &[
            "users",
            "create",
            r#"{"email":"eve@example.com","password":"a long password"}"#,
        ],
        d,
        &CHEAP,
    )))
    .unwrap();
    let user_id = user["user_id"].as_str().unwrap();
    let updated = ok(portcullis(
        &["users", "update", user_id, r#"{"blocked":true}"#],
        d,
        &CHEAP,
    ));
    assert!(updated.contains("\"blocked\": true"));
    let list: serde_json::Value =
        serde_json::from_str(&ok(portcullis(&["clients", "list"], d, &CHEAP))).unwrap();
    assert!(list.as_array().unwrap().iter().any(|c| c["name"] == "Shop"));

    let bad = portcullis(
        &[
            "clients",
            "create",
            r#"{"name":"X","callbacks":["javascript:alert(1)"]}"#,
        ],
        d,
        &CHEAP,
    );
    assert!(!bad.status.success());
    assert!(text(&bad).contains("callbacks[0]"), "{}", text(&bad));
    ok(portcullis(&["clients", "delete", id], d, &CHEAP));
    assert!(
        !portcullis(&["clients", "get", id], d, &CHEAP)
            .status
            .success()
    );
}

#[test]
fn tenant_export_round_trips_with_import() {
    let first = tempfile::tempdir().unwrap();
    std::fs::write(
        first.path().join("t.yaml"),
        "clients:\n  - {name: Web, client_id: web, client_secret: web-secret-0123456789-abcdefghijklmnopq, callbacks: ['https://w.example/cb'], refresh_token: {rotation_type: rotating, expiration_type: expiring, leeway: 5}}\n  - {name: M2M, client_id: m2m, app_type: non_interactive, grant_types: [client_credentials]}\nresourceServers:\n  - {name: API, identifier: 'https://api.example/', scopes: [{value: 'read:x', description: Read X}], allow_offline_access: true}\nclientGrants:\n  - {client_id: m2m, audience: 'https://api.example/', scope: ['read:x']}\nusers:\n  - {email: a@example.com, password: a long password, name: Ada}\n",
    )
    .unwrap();
    ok(portcullis(
        &["tenant", "import", "t.yaml"],
        first.path(),
        &CHEAP,
    ));
    let exported = ok(portcullis(&["tenant", "export"], first.path(), &CHEAP));
    assert!(
        exported.contains("password_hash: $argon2id$") && !exported.contains("a long password")
    );
    assert!(
        !exported.contains("web-secret"),
        "secrets are stored hashed, never exported"
    );

    let second = tempfile::tempdir().unwrap();
    std::fs::write(second.path().join("t.yaml"), &exported).unwrap();
    ok(portcullis(
        &["tenant", "import", "t.yaml"],
        second.path(),
        &CHEAP,
    ));
    assert_eq!(
        ok(portcullis(&["tenant", "export"], second.path(), &CHEAP)),
        exported
    );
}

#[tokio::test]
async fn postgres_requires_the_master_key_and_refuses_a_wrong_one() {
    let Some(database) = portcullis_store::testing::fresh_postgres_schema().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("t.yaml"),
        "resourceServers: [{name: A, identifier: 'https://a.example/'}]\n",
    )
    .unwrap();
    let key = "the first master key, long enough for HKDF";
    std::fs::write(d.join("master.key"), format!("{key}\n")).unwrap();
    let import = |env: &[(&str, &str)]| {
        let mut all = vec![("PORTCULLIS_DATABASE", database.as_str())];
        all.extend_from_slice(env);
        portcullis(&["tenant", "import", "t.yaml"], d, &all)
    };

    let none = import(&[]);
    assert!(!none.status.success());
    assert!(
        text(&none).contains("PostgreSQL needs master_key or master_key_file"),
        "{}",
        text(&none)
    );
    assert!(
        !d.join("portcullis.db.master-key").exists(),
        "no key is generated for PostgreSQL"
    );

    ok(import(&[("PORTCULLIS_MASTER_KEY", key)]));
    let wrong = import(&[(
        "PORTCULLIS_MASTER_KEY",
        "another master key, just as long as the first",
    )]);
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("the master key is not the one the database was created with"),
        "{}",
        text(&wrong)
    );
    // The same key from a file (as a secret mount gives it) is the same key.
    ok(import(&[("PORTCULLIS_MASTER_KEY_FILE", "master.key")]));
}

/// A `portcullis serve` child process, killed when dropped (also when a test fails), and
/// every line it writes to stdout or stderr.
struct Server {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Server {
    fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
        use std::io::BufRead;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PORTCULLIS_")) {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let out = send.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = out.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = send.send(line);
            }
        });
        Server { child, lines }
    }

    /// The first line (within 30 s) that `wanted` accepts; a panic shows the lines before.
    fn line_where(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(line) => seen.push(line),
                Err(e) => panic!("{e}; the server wrote:\n{}", seen.join("\n")),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn json_logs_carry_the_request_id_and_one_line_per_response() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut env = CHEAP.to_vec();
    env.extend([
        ("PORTCULLIS_LOG_FORMAT", "json"),
        ("PORTCULLIS_DEMO", "false"),
    ]);
    let server = Server::start(dir.path(), &env);
    let ready = server.line_where(|l| l.starts_with("Portcullis is listening."));
    let issuer = ready.split("Issuer: ").nth(1).unwrap().trim();
    let host = issuer
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();

    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {host}\r\nx-request-id: test-req-123\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .lines()
            .any(|l| l.eq_ignore_ascii_case("x-request-id: test-req-123")),
        "the request id is echoed: {response}"
    );

    // tower-http's response event; no other line mentions the id at the INFO level.
    let line = server
        .line_where(|l| l.contains("test-req-123") && l.contains("finished processing request"));
    let event: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    assert_eq!(event["span"]["request_id"], "test-req-123", "{line}");
    assert_eq!(event["level"], "INFO", "{line}");
    assert_eq!(
        event["fields"]["status"], 200,
        "one line per response: {line}"
    );
    assert!(event["fields"]["latency"].is_string(), "{line}");
}
