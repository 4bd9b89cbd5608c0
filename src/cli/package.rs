//! `hubup package verify`: checks an update package in full, exactly as an upgrade would
//! before using it (with `--config`, also whether its signer is trusted), and changes nothing.
//! `hubup package keygen` and `hubup package sign` are the publisher's side.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use hubup::{Config, Package, PackageError, SigningKey, Step, Version};

use super::{Cause, CommandResult, Exit, Failure};

#[derive(Subcommand, Debug)]
pub(crate) enum PackageCommand {
    /// Verify an update package in full (zip structure, manifest, every file's size and
    /// blake3) without changing anything. Exit code 0: sound; 2: refused (the message says
    /// why and what to do).
    Verify(VerifyArgs),
    /// Sign an update package with a publisher's key (replacing any signature it had). The
    /// package is verified in full first; only sound packages are signed.
    Sign(SignArgs),
    /// Make a new publisher signing key and print its public key, the value for the config's
    /// [packages] trusted_keys.
    Keygen(KeygenArgs),
}

#[derive(Args, Debug)]
pub(crate) struct SignArgs {
    /// The package file to sign (rewritten in place).
    file: PathBuf,
    /// The signing key file (made by `hubup package keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The publisher's name, shown by `package verify` (never trusted: the key is).
    #[arg(long, value_name = "NAME")]
    signer: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct KeygenArgs {
    /// Where to write the new key (a new file, readable by its owner only).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The package file, e.g. BluePrismHubAndInteractUpdate4.2.bin
    file: PathBuf,
    /// Require the package for this step: `4.2` means the step to 4.2 (as in the package's
    /// name); `4.1-4.2` says both ends. Without it, any step is accepted and shown.
    #[arg(long, value_name = "4.n", value_parser = parse_step)]
    expect_step: Option<Step>,
    /// Also check that the package's signer is one the config's [packages] trusts, as an
    /// upgrade does.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the result as JSON on standard output.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(command: PackageCommand) -> CommandResult {
    match command {
        PackageCommand::Verify(args) => verify(&args),
        PackageCommand::Sign(args) => sign(&args),
        PackageCommand::Keygen(args) => keygen(&args),
    }
}

fn sign(args: &SignArgs) -> CommandResult {
    let key = SigningKey::read(&args.key)?;
    let signer =
        hubup::sign_package(&args.file, &key, args.signer.as_deref()).map_err(|error| {
            Cause::Sign {
                package: args.file.clone(),
                error,
            }
        })?;
    outln!("signed {} with {signer}", args.file.display());
    Ok(Exit::Ok)
}

fn keygen(args: &KeygenArgs) -> CommandResult {
    let key = SigningKey::generate().map_err(Cause::KeyGeneration)?;
    key.write_new(&args.out)?;
    outln!(
        "wrote the signing key {} (keep it secret).\npublic key: {}\n\nA config trusts packages signed with it by:\n[packages]\ntrusted_keys = [\"{}\"]",
        args.out.display(),
        key.public(),
        key.public()
    );
    Ok(Exit::Ok)
}

fn verify(args: &VerifyArgs) -> CommandResult {
    let opened = match args.expect_step {
        Some(step) => Package::open(&args.file, step),
        None => Package::open_any_step(&args.file),
    };
    let trust = match &args.config {
        Some(path) => Some(
            Config::load(path)
                .map_err(|error| Cause::Config { error, hint: "" })?
                .packages,
        ),
        None => None,
    };
    let opened = opened.and_then(|package| match &trust {
        Some(trust) => trust
            .accept(package.path(), package.signer())
            .map(|_| package),
        None => Ok(package),
    });
    match opened {
        Ok(package) => {
            let trusted = trust.as_ref().map(|_| package.signer().is_some());
            if args.json {
                outln!("{}", success_json(&package, trusted));
            } else {
                print_success(&package, trusted);
            }
            Ok(Exit::Ok)
        }
        Err(err) => {
            let json = args.json.then(|| failure_json(&args.file, &err));
            let mut failure = Failure::from(err);
            if let Some(mut json) = json {
                // One object: the common error fields and the package's own.
                if let (Some(own), serde_json::Value::Object(common)) =
                    (json.as_object_mut(), failure.json())
                {
                    own.extend(common.into_iter().filter(|(k, _)| k != "ok"));
                }
                outln!("{json}");
                failure.json_printed = true;
            }
            Err(failure)
        }
    }
}

fn print_success(package: &Package, trusted: Option<bool>) {
    let manifest = package.manifest();
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    outln!(
        "ok: {} is a sound package for {} -> {}",
        package.path().display(),
        manifest.from,
        manifest.to
    );
    outln!(
        "  files:          {} ({}), every size and blake3 verified",
        manifest.files.len(),
        human_bytes(bytes)
    );
    outln!("  deletions:      {}", manifest.deletions.len());
    for rename in &manifest.renames {
        outln!("  rename:         {} -> {}", rename.from, rename.to);
    }
    if !manifest.new_components.is_empty() {
        outln!("  new components: {}", manifest.new_components.join(", "));
    }
    outln!("  package blake3: {}", package.digest());
    let signature = match (package.signer(), trusted) {
        (Some(signer), Some(true)) => format!("signed by {signer}, trusted by the config"),
        (Some(signer), _) => format!("signed by {signer} (signature verified over the manifest)"),
        (None, Some(_)) => {
            "unsigned (accepted: the config says [packages] allow_unsigned = true)".to_string()
        }
        (None, None) => "unsigned".to_string(),
    };
    outln!("  signature:      {signature}");
}

fn success_json(package: &Package, trusted: Option<bool>) -> serde_json::Value {
    let manifest = package.manifest();
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    serde_json::json!({
        "ok": true,
        "package": package.path().display().to_string(),
        "step": { "from": manifest.from, "to": manifest.to },
        "files": manifest.files.len(),
        "bytes": bytes,
        "deletions": manifest.deletions.len(),
        "renames": manifest.renames,
        "new_components": manifest.new_components,
        "digest": package.digest(),
        "signer": package.signer().map(|s| serde_json::json!({
            "key": s.key.to_string(),
            "name": s.name,
        })),
        // With --config: signed by a trusted key (true) or unsigned and allowed (false).
        "trusted": trusted,
    })
}

fn failure_json(file: &Path, err: &PackageError) -> serde_json::Value {
    serde_json::json!({
        "ok": false,
        "package": file.display().to_string(),
        "error": err.to_string(),
    })
}

pub(super) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `4.n` (the step to 4.n) or `4.m-4.n` / `4.m->4.n` (both ends, which must be one step).
fn parse_step(text: &str) -> Result<Step, String> {
    let version = |s: &str| s.trim().parse::<Version>().map_err(|e| e.to_string());
    match text.split_once("->").or_else(|| text.split_once('-')) {
        Some((from, to)) => {
            let (from, to) = (version(from)?, version(to)?);
            Step::from_version(from)
                .filter(|step| step.to == to)
                .ok_or_else(|| format!("{from} -> {to} is not one upgrade step"))
        }
        None => {
            let to = version(text)?;
            to.previous()
                .and_then(Step::from_version)
                .ok_or_else(|| format!("no package upgrades to {to}: it is the oldest version"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_from_target_or_both_ends() {
        let step = Step::from_version(Version::V4_1).unwrap();
        assert_eq!(parse_step("4.2"), Ok(step));
        assert_eq!(parse_step("4.1-4.2"), Ok(step));
        assert_eq!(parse_step("4.1->4.2"), Ok(step));
        assert!(parse_step("4.0").unwrap_err().contains("oldest"));
        assert!(
            parse_step("4.1-4.3")
                .unwrap_err()
                .contains("not one upgrade step")
        );
        assert!(parse_step("5.0").unwrap_err().contains("unknown version"));
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
