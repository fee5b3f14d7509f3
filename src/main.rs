//! The `mychat` command: serve (default), migrate, reset an admin password, rotate the chat key, or load
//! demo data.

use clap::{Parser, Subcommand};
use mychat::{Application, Settings};

#[derive(Parser)]
#[command(
    name = "mychat",
    version,
    about = "MyChat: user API (8080), admin API (8081) and WebSocket server (8082) in one process"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the three ports (the default).
    Serve,
    /// Run pending database migrations and exit.
    Migrate,
    /// Administrator account maintenance.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load a few demo counselors with user accounts, for trying the platform out.
    SeedDemo,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Set a new password for an administrator and sign them out everywhere.
    ResetPassword {
        /// The administrator's username, e.g. admin.
        username: String,
        /// The new password (at least 8 characters). Omitted: read MYCHAT_NEW_PASSWORD, else generate one.
        #[arg(long, env = "MYCHAT_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Add a chat encryption key, make it active, and re-encrypt older messages and chat file names with it
    /// in batches (resumable: run it again after an interruption).
    RotateChatKey {
        /// Add no key; re-encrypt with the active one. For keys in `privacy.chat_keys`: add the key there,
        /// set `privacy.active_chat_key`, restart the servers, then run this.
        #[arg(long)]
        reencrypt_only: bool,
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch: u64,
        /// Skip the wait for running servers to switch keys (and the last pass after it).
        #[arg(long)]
        no_wait: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load()?;
    mychat::telemetry::init(&settings);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await
        }
        Command::Migrate => {
            let db = mychat::db::connect(&settings).await?;
            mychat::db::migrate(&db).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::ResetPassword { username, password },
        } => mychat::cli::reset_admin_password(settings, &username, password).await,
        Command::Admin {
            command:
                AdminCommand::RotateChatKey {
                    reencrypt_only,
                    batch,
                    no_wait,
                },
        } => {
            let options = mychat::cli::RotateOptions {
                reencrypt_only,
                batch,
                wait_for_servers: !no_wait,
            };
            mychat::cli::rotate_chat_key(settings, options)
                .await
                .map(|_| ())
        }
        Command::SeedDemo => mychat::cli::seed_demo(settings).await,
    }
}
