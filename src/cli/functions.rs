//! `taskyard functions`: the Rust functions the live nodes register, and one of them with its params' schema.
use std::process::ExitCode;

use clap::Args;

use super::format;
use super::remote::{Failure, Remote};

#[derive(Debug, Args)]
#[command(after_help = "Functions are registered by an application that embeds taskyard (see examples/functions.rs); \
                        `taskyard serve` alone registers none.

Examples:
  taskyard functions
  taskyard functions add
  taskyard functions --output json | jq -r '.[].name'")]
pub struct FunctionsArgs {
    /// Show this function: its description, tags, nodes and the JSON Schema of its params.
    name: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

pub async fn main(args: FunctionsArgs) -> Result<ExitCode, Failure> {
    let client = args.remote.client()?;
    match &args.name {
        None => {
            let functions = client.functions().await?;
            if args.remote.json() { format::json(&functions) } else { format::functions(&functions) }
        }
        Some(name) => {
            let function = client.function(name).await?;
            if args.remote.json() { format::json(&function) } else { format::function(&function) }
        }
    }
    Ok(ExitCode::SUCCESS)
}
