//! `hubup package verify`: checks an update package in full, as `upgrade` does before it
//! changes anything, so an operator can check a download first.

use std::path::PathBuf;

use clap::Subcommand;
use hubup::{Package, Step, Version};

use super::{CommandResult, Exit, Failure};

#[derive(Subcommand, Debug)]
pub(crate) enum PackageCommand {
    /// Verify a package: manifest, every entry's name, size and blake3 digest.
    Verify {
        /// The package file (BluePrismHubAndInteractUpdate4.n.bin).
        file: PathBuf,
        /// The step it must be for; by default the one its file name says.
        #[arg(long, value_name = "VERSION")]
        to: Option<Version>,
    },
}

pub(crate) fn run(command: PackageCommand) -> CommandResult {
    match command {
        PackageCommand::Verify { file, to } => {
            let to = match to {
                Some(v) => v,
                None => version_from_name(&file)?,
            };
            let step = to.previous().and_then(Step::from_version).ok_or_else(|| {
                Failure::new(Exit::BadInput, format!("no package upgrades to {to}"))
            })?;
            let package = Package::open(&file, step)
                .map_err(|e| Failure::new(Exit::BadInput, e.to_string()))?;
            let m = package.manifest();
            println!(
                "{}: verified package for {step}: {} files to write, {} to delete, {} renames, \
                 {} settings files to merge; blake3 {}",
                file.display(),
                m.files.len(),
                m.deletions.len(),
                m.renames.len(),
                m.settings.len(),
                package.digest()
            );
            Ok(Exit::Ok)
        }
    }
}

fn version_from_name(file: &std::path::Path) -> Result<Version, Failure> {
    file.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("BluePrismHubAndInteractUpdate"))
        .and_then(|n| n.strip_suffix(".bin"))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Failure::new(
                Exit::BadInput,
                format!(
                    "{}: cannot tell the step from the file name; give --to 4.n",
                    file.display()
                ),
            )
        })
}
