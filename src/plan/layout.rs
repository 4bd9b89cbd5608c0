//! The mapping between the package's layout and this install's (a folder rename the config
//! turns off keeps its old name).

use crate::components::{self, Component};
use crate::config::Config;
use crate::package::{FolderRename, Manifest};
use crate::relpath::RelPath;

/// Maps paths between the package's target layout and this install's actual layout (a folder
/// rename the config turns off keeps its old name) and the source layout (before renames).
pub(super) struct Layout {
    /// Renames this install performs.
    pub(super) applied: Vec<FolderRename>,
    /// Renames the package describes but the config turned off.
    pub(super) skipped: Vec<FolderRename>,
}

impl Layout {
    pub(super) fn new(manifest: &Manifest, config: &Config) -> Layout {
        let email = components::info(Component::EmailService);
        let (skipped, applied) = manifest.renames.iter().cloned().partition(|r| {
            !config.install.rename_email_folder
                && r.from.as_str() == email.folder_before_4_3
                && r.to.as_str() == email.folder_from_4_3
        });
        Layout { applied, skipped }
    }

    /// Where a target-layout path of the package lives in this install after the step.
    pub(super) fn actual(&self, target: &RelPath) -> RelPath {
        self.skipped
            .iter()
            .find_map(|r| target.rebase(&r.to, &r.from))
            .unwrap_or_else(|| target.clone())
    }

    /// Where an after-step path of this install lived before the step.
    pub(super) fn source(&self, actual: &RelPath) -> RelPath {
        self.applied
            .iter()
            .find_map(|r| actual.rebase(&r.to, &r.from))
            .unwrap_or_else(|| actual.clone())
    }

    /// The folder a component lives in after the step.
    pub(super) fn folder_after(&self, folder_in_package_layout: &str) -> String {
        RelPath::new(folder_in_package_layout)
            .map(|p| self.actual(&p).to_string())
            .unwrap_or_else(|_| folder_in_package_layout.to_string())
    }
}
