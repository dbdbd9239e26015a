//! `portcullis`: the command line. Parses arguments, loads configuration, and calls the
//! server library; nothing else lives here (the library is what tests drive).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use portcullis_server::config::{LogFormat, Overrides, RawConfig, Settings};
use portcullis_server::http::Method;
use portcullis_server::state::SystemClock;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "An OAuth 2.0 / OpenID Connect authorization server, Auth0-compatible."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrates the database; seeds a demo tenant into an empty one).
    Serve(ServerArgs),
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Tenant commands.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Apply database migrations and exit.
    Migrate(ServerArgs),
    /// Applications (Management API `clients`).
    Clients(ManageArgs),
    /// APIs (Management API `resource-servers`).
    Apis(ManageArgs),
    /// Users (Management API `users`).
    Users(ManageArgs),
    /// Client grants (Management API `client-grants`).
    Grants(ManageArgs),
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List the signing keys and their states.
    List(ServerArgs),
    /// Rotate: the published next key becomes current (running nodes follow within 30 s).
    Rotate(ServerArgs),
}

/// A Management API resource from the command line: the database given by the usual
/// settings, the same validation and JSON as `/api/v2`. Changes are seen by running
/// servers on their next request.
#[derive(Args)]
struct ManageArgs {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand)]
enum Action {
    /// List all (JSON array).
    List,
    /// Show one.
    Get {
        /// Id (client_id, API id or identifier, user_id, grant id).
        id: String,
    },
    /// Create from a JSON object (Management API body).
    Create {
        /// The JSON body.
        json: String,
    },
    /// Update with a JSON object (Management API PATCH body).
    Update {
        /// Id.
        id: String,
        /// The JSON body.
        json: String,
    },
    /// Delete.
    Delete {
        /// Id.
        id: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets redacted, or the error.
    Check(ServerArgs),
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Apply an Auth0 Deploy CLI tenant.yaml to the database (idempotent; all or nothing).
    Import {
        /// The tenant file.
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Write the tenant as a tenant.yaml that `tenant import` reads back (client secrets
    /// are stored hashed and not exported).
    Export {
        /// Output file [default: standard output].
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Args, Clone)]
struct ServerArgs {
    /// Configuration file [default: portcullis.toml, if present].
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<String>,
    /// Public URL, the issuer (a trailing slash is added).
    #[arg(long)]
    public_url: Option<String>,
    /// Database URL, e.g. sqlite://portcullis.db.
    #[arg(long)]
    database: Option<String>,
    /// Tenant file (tenant.yaml) applied at start.
    #[arg(long)]
    tenant: Option<PathBuf>,
}

impl ServerArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let overrides = Overrides {
            listen: self.listen.clone(),
            public_url: self.public_url.clone(),
            database: self.database.clone(),
            tenant: self.tenant.clone(),
        };
        let (file, required) = match &self.config {
            Some(path) => (path.clone(), true),
            None => (PathBuf::from("portcullis.toml"), false),
        };
        Ok(RawConfig::load(Some(&file), required, std::env::vars(), &overrides)?.validate()?)
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        // The span list puts the `request` span, and so its `request_id`, on every line
        // logged while a request is handled, even from inside a nested span.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let settings = args.settings()?;
            init_logging(settings.log_format);
            portcullis_server::serve(settings, Arc::new(SystemClock), |issuer, report| {
                for notice in &report.notices {
                    println!("{notice}");
                }
                println!("Portcullis is listening. Issuer: {issuer}\nOpen {issuer} in a browser.");
            })
            .await
        }
        Command::Config {
            command: ConfigCommand::Check(args),
        } => {
            println!("{}", args.settings()?);
            Ok(())
        }
        Command::Migrate(args) => {
            portcullis_server::open_store(&args.settings()?).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::Export { output, server },
        } => {
            let state = admin_state(&server).await?;
            let yaml = portcullis_server::admin::export(&state).await?;
            match output {
                Some(path) => std::fs::write(&path, yaml)?,
                None => print!("{yaml}"),
            }
            Ok(())
        }
        Command::Keys { command } => {
            let (server, method, path) = match command {
                KeysCommand::List(s) => (s, Method::GET, "keys/signing"),
                KeysCommand::Rotate(s) => (s, Method::POST, "keys/signing/rotate"),
            };
            let state = admin_state(&server).await?;
            let (status, body) = portcullis_server::admin::call(&state, method, path, None).await?;
            if !status.is_success() {
                anyhow::bail!(
                    "{}",
                    body.get("message")
                        .and_then(|m| m.as_str())
                        .unwrap_or(status.as_str())
                );
            }
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
        Command::Clients(args) => manage("clients", args).await,
        Command::Apis(args) => manage("resource-servers", args).await,
        Command::Users(args) => manage("users", args).await,
        Command::Grants(args) => manage("client-grants", args).await,
        Command::Tenant {
            command: TenantCommand::Import { file, server },
        } => {
            let mut settings = server.settings()?;
            settings.tenant = Some(file);
            settings.demo = false;
            let issuer = portcullis_server::issuer_for(&settings, settings.listen);
            let (_, report) =
                portcullis_server::build(settings, &issuer, Arc::new(SystemClock)).await?;
            for notice in &report.notices {
                println!("{notice}");
            }
            Ok(())
        }
    }
}

/// The application state on the configured database, without demo or tenant file.
async fn admin_state(server: &ServerArgs) -> anyhow::Result<portcullis_server::state::AppState> {
    let mut settings = server.settings()?;
    settings.demo = false;
    settings.tenant = None;
    let issuer = portcullis_server::issuer_for(&settings, settings.listen);
    let (state, report) =
        portcullis_server::build(settings, &issuer, Arc::new(SystemClock)).await?;
    for notice in &report.notices {
        eprintln!("{notice}");
    }
    Ok(state)
}

async fn manage(resource: &str, args: ManageArgs) -> anyhow::Result<()> {
    use portcullis_server::admin::call;
    let state = admin_state(&args.server).await?;
    let parse = |text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| anyhow::anyhow!("the JSON body does not parse: {e}"))
    };
    let encode = |id: &str| {
        id.replace('%', "%25")
            .replace('/', "%2F")
            .replace('|', "%7C")
            .replace('?', "%3F")
            .replace('#', "%23")
    };
    let (status, body) = match args.action {
        Action::List => {
            call(
                &state,
                Method::GET,
                &format!("{resource}?per_page=100"),
                None,
            )
            .await?
        }
        Action::Get { id } => {
            call(
                &state,
                Method::GET,
                &format!("{resource}/{}", encode(&id)),
                None,
            )
            .await?
        }
        Action::Create { json } => {
            call(&state, Method::POST, resource, Some(parse(&json)?)).await?
        }
        Action::Update { id, json } => {
            call(
                &state,
                Method::PATCH,
                &format!("{resource}/{}", encode(&id)),
                Some(parse(&json)?),
            )
            .await?
        }
        Action::Delete { id } => {
            call(
                &state,
                Method::DELETE,
                &format!("{resource}/{}", encode(&id)),
                None,
            )
            .await?
        }
    };
    if !status.is_success() {
        anyhow::bail!(
            "{}",
            body.get("message")
                .and_then(|m| m.as_str())
                .unwrap_or(status.as_str())
        );
    }
    if !body.is_null() {
        println!("{}", serde_json::to_string_pretty(&body)?);
    }
    Ok(())
}
