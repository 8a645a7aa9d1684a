//! `cloudphone-sim`: runs the simulator (every registered vendor) until Ctrl-C.

use clap::Parser;
use cloudphone_sim::SimArgs;

/// A local simulator of the GeeLark and Huawei Cloud CPH cloud-phone APIs (for tests and demos).
#[derive(Parser, Debug)]
#[command(name = "cloudphone-sim", version, about)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    cloudphone_sim::serve_until_ctrl_c(cli.sim.into_config()).await
}
