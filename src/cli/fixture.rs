//! The `hubup fixture` commands: generate a fixture install of any version, and the five update
//! packages, for tests, benchmarks and the demo.

use std::path::PathBuf;
use std::time::Instant;

use clap::Subcommand;
use hubup::{DEFAULT_IIS_LOCATION, FixtureSize, Version, generate_install, generate_packages};

use super::{CommandResult, Exit};

#[derive(Subcommand, Debug)]
pub(crate) enum FixtureCommand {
    /// Write an install of a version: OUT/Blue Prism (the install root) and
    /// OUT/inetsrv/applicationHost.config.
    Gen {
        /// The version to write (4.0 ... 4.5).
        #[arg(long, value_name = "VERSION")]
        version: Version,
        /// small (a few hundred files) or large (about 18,000 files, 800 MiB).
        #[arg(long, default_value = "small")]
        size: FixtureSize,
        /// An empty or missing folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// How applicationHost.config spells the install location in physical paths.
        #[arg(long, default_value = DEFAULT_IIS_LOCATION)]
        iis_location: String,
    },
    /// Write the five packages BluePrismHubAndInteractUpdate4.1.bin ... 4.5.bin into OUT.
    Packages {
        #[arg(long, default_value = "small")]
        size: FixtureSize,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

pub(crate) fn run(command: FixtureCommand) -> CommandResult {
    let started = Instant::now();
    match command {
        FixtureCommand::Gen {
            version,
            size,
            out,
            iis_location,
        } => {
            let root = out.join("Blue Prism");
            let apphost = out.join("inetsrv").join("applicationHost.config");
            let written = generate_install(version, size, &root, &apphost, &iis_location)?;
            outln!(
                "wrote a {size} {version} install: {} files, {} bytes in {} ({:.1} s); IIS config {}",
                written.files,
                written.bytes,
                root.display(),
                started.elapsed().as_secs_f64(),
                apphost.display()
            );
        }
        FixtureCommand::Packages { size, out } => {
            let paths = generate_packages(size, &out)?;
            for path in paths {
                let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                outln!("{} ({bytes} bytes)", path.display());
            }
            outln!("({:.1} s)", started.elapsed().as_secs_f64());
        }
    }
    Ok(Exit::Ok)
}
