use std::process::ExitCode;

use clap::Parser;
use latchkey::cli::{self, Cli};
use latchkey::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("LATCHKEY_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    latchkey::install_crypto_provider();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("latchkey: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log_format);
    match cli::run(cli, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latchkey: {}", e.0);
            ExitCode::FAILURE
        }
    }
}
