//! `portcullis`: the command line. Parses arguments, loads configuration, and calls the
//! server library; nothing else lives here (the library is what tests drive).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use portcullis_server::config::{LogFormat, Overrides, RawConfig, Settings};
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
        LogFormat::Json => builder.json().init(),
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
