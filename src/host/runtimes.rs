//! The .NET runtimes and the IIS module that the guide's prerequisites ask for before 4.4
//! (".NET Core 3.1.11 or later": the Hosting Bundle, which brings the ASP.NET Core Runtime
//! and IIS's ASP.NET Core Module V2, and the Windows Desktop Runtime), as a machine lists
//! them, and what is missing for a minimum version.
//!
//! The listing is one line per runtime in `dotnet --list-runtimes`' own form
//! (`Microsoft.AspNetCore.App 3.1.32 [C:\Program Files\dotnet\shared\Microsoft.AspNetCore.App]`)
//! and the line [`IIS_MODULE_LINE`] when IIS has the module. The Windows adapter's
//! `runtime_list` template prints it; the sandbox keeps the same lines.
//!
//! "3.1.11 or later" means a 3.1 release at or after 3.1.11: an app built for .NET Core 3.1
//! rolls forward to later patches and minors of 3.x only, never to 5, 6 or 8, and a preview
//! is not a release.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The shared framework of the ASP.NET Core Runtime (the Hosting Bundle's).
pub const ASPNETCORE_RUNTIME: &str = "Microsoft.AspNetCore.App";
/// The Windows Desktop Runtime's shared framework.
pub const WINDOWS_DESKTOP_RUNTIME: &str = "Microsoft.WindowsDesktop.App";
/// The listing's line for IIS's ASP.NET Core Module V2 (`aspnetcorev2.dll`).
pub const IIS_MODULE_LINE: &str = "AspNetCoreModuleV2 installed";

/// What a machine has: (shared framework, version) pairs, and whether IIS has the module.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledRuntimes {
    pub runtimes: Vec<(String, String)>,
    pub iis_module: bool,
}

/// One thing a machine lacks for a minimum version, in the words of the guide's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MissingRuntime {
    /// No release of the shared framework at or after the minimum (the versions it has).
    Runtime {
        framework: &'static str,
        found: Vec<String>,
    },
    IisModule,
}

impl fmt::Display for MissingRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MissingRuntime::Runtime { framework, found } => {
                write!(f, "{}", framework_title(framework))?;
                if found.is_empty() {
                    write!(f, " (none installed)")
                } else {
                    write!(f, " (installed: {})", found.join(", "))
                }
            }
            MissingRuntime::IisModule => write!(f, "IIS's ASP.NET Core Module V2"),
        }
    }
}

fn framework_title(framework: &str) -> &'static str {
    match framework {
        ASPNETCORE_RUNTIME => "the ASP.NET Core Runtime",
        _ => "the Windows Desktop Runtime",
    }
}

impl InstalledRuntimes {
    /// Reads a listing (see the module's doc); lines of other forms are ignored.
    pub fn parse(listing: &str) -> InstalledRuntimes {
        let mut found = InstalledRuntimes::default();
        for line in listing.lines().map(str::trim) {
            if line.eq_ignore_ascii_case(IIS_MODULE_LINE) {
                found.iis_module = true;
                continue;
            }
            let mut words = line.split_whitespace();
            if let (Some(framework), Some(version)) = (words.next(), words.next())
                && framework.starts_with("Microsoft.")
                && version.starts_with(|c: char| c.is_ascii_digit())
            {
                found
                    .runtimes
                    .push((framework.to_string(), version.to_string()));
            }
        }
        found
    }

    /// The listing's lines for these runtimes (as the sandbox keeps them).
    pub fn listing(&self) -> String {
        let mut lines: Vec<String> = self
            .runtimes
            .iter()
            .map(|(framework, version)| format!("{framework} {version}"))
            .collect();
        if self.iis_module {
            lines.push(IIS_MODULE_LINE.to_string());
        }
        lines.join("\n")
    }

    /// The newest release of `framework` at or after `minimum` on its line, if any.
    pub fn satisfying(&self, framework: &str, minimum: &str) -> Option<&str> {
        self.versions_of(framework)
            .into_iter()
            .filter(|v| satisfies(v, minimum))
            .max_by_key(|v| release(v))
    }

    fn versions_of(&self, framework: &str) -> Vec<&str> {
        self.runtimes
            .iter()
            .filter(|(f, _)| f.eq_ignore_ascii_case(framework))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Everything the guide's table asks for `minimum` that this machine lacks.
    pub fn missing(&self, minimum: &str) -> Vec<MissingRuntime> {
        let mut missing = Vec::new();
        for framework in [ASPNETCORE_RUNTIME, WINDOWS_DESKTOP_RUNTIME] {
            if self.satisfying(framework, minimum).is_none() {
                missing.push(MissingRuntime::Runtime {
                    framework,
                    found: self
                        .versions_of(framework)
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                });
            }
        }
        if !self.iis_module {
            missing.push(MissingRuntime::IisModule);
        }
        missing
    }
}

/// `major.minor.patch` of a release; `None` for a preview (`3.1.0-preview3`) or anything
/// else.
fn release(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.split('.');
    let mut next = || parts.next()?.parse::<u32>().ok();
    let (major, minor, patch) = (next()?, next()?, next()?);
    parts.next().is_none().then_some((major, minor, patch))
}

/// Whether release `version` is on `minimum`'s major.minor line at or after it.
pub fn satisfies(version: &str, minimum: &str) -> bool {
    match (release(version), release(minimum)) {
        (Some((major, minor, patch)), Some((min_major, min_minor, min_patch))) => {
            major == min_major && minor == min_minor && patch >= min_patch
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dotnet --list-runtimes` on a server with the 3.1.32 Hosting Bundle, the Windows
    /// Desktop Runtime and a later .NET 8.
    const LISTING: &str = "Microsoft.AspNetCore.App 3.1.32 [C:\\Program Files\\dotnet\\shared\\Microsoft.AspNetCore.App]\r\n\
        Microsoft.AspNetCore.App 8.0.11 [C:\\Program Files\\dotnet\\shared\\Microsoft.AspNetCore.App]\r\n\
        Microsoft.NETCore.App 3.1.32 [C:\\Program Files\\dotnet\\shared\\Microsoft.NETCore.App]\r\n\
        Microsoft.WindowsDesktop.App 3.1.32 [C:\\Program Files\\dotnet\\shared\\Microsoft.WindowsDesktop.App]\r\n\
        AspNetCoreModuleV2 installed\r\n";

    #[test]
    fn any_later_3_1_patch_satisfies_3_1_11_and_no_other_line_does() {
        for ok in ["3.1.11", "3.1.12", "3.1.32"] {
            assert!(satisfies(ok, "3.1.11"), "{ok}");
        }
        // The old `-match '^3.1.11'` also took 3.1.110 and refused 3.1.32; neither is right
        // the other way round: 3.1.110 does not exist, so only the ordering matters.
        for bad in [
            "3.1.10",
            "3.1.1",
            "3.0.3",
            "5.0.17",
            "8.0.11",
            "3.1.12-preview1",
            "3.1",
        ] {
            assert!(!satisfies(bad, "3.1.11"), "{bad}");
        }
    }

    #[test]
    fn a_listing_with_every_part_lacks_nothing_and_names_the_newest() {
        let found = InstalledRuntimes::parse(LISTING);
        assert!(found.missing("3.1.11").is_empty(), "{found:?}");
        assert_eq!(
            found.satisfying(ASPNETCORE_RUNTIME, "3.1.11"),
            Some("3.1.32")
        );
        assert_eq!(InstalledRuntimes::parse(&found.listing()), found);
    }

    #[test]
    fn each_missing_part_is_named_with_what_is_installed() {
        let only_8 = InstalledRuntimes::parse("Microsoft.AspNetCore.App 8.0.11 [C:\\x]\n");
        let missing = only_8.missing("3.1.11");
        assert_eq!(missing.len(), 3, "{missing:?}");
        assert_eq!(
            missing[0].to_string(),
            "the ASP.NET Core Runtime (installed: 8.0.11)"
        );
        assert_eq!(
            missing[1].to_string(),
            "the Windows Desktop Runtime (none installed)"
        );
        assert_eq!(missing[2], MissingRuntime::IisModule);
    }
}
