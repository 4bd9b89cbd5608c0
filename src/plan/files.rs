//! File ops from the package's manifest: folder renames, deletions and writes, each checked
//! against the installed version for local changes; and the files neither version ships.

use crate::model::{FileFact, InstallModel, is_settings_file};
use crate::op::*;
use crate::package::Manifest;
use crate::relpath::RelPath;

use super::layout::Layout;
use super::local_changes::LocalChangeKind;
use super::{PlanError, Planner, ShippedSettings, backed_up};

impl Planner<'_> {
    /// Renames, deletions and writes from the manifest, with local-change detection.
    pub(super) fn files(
        &mut self,
        manifest: &Manifest,
        shipped: &ShippedSettings,
        layout: &Layout,
    ) -> Result<(), PlanError> {
        for rename in &layout.applied {
            if self.before.has_folder(&rename.from) {
                self.after.rename_folder(&rename.from, &rename.to);
                self.body.push(Op::RenameFolder(RenameFolderOp {
                    from: rename.from.clone(),
                    to: rename.to.clone(),
                }));
            } else {
                self.notes.push(format!(
                    "folder {} is not in the install; its rename to {} is skipped",
                    rename.from, rename.to
                ));
            }
        }
        for deletion in &manifest.deletions {
            let path = layout.actual(&deletion.path);
            let source = layout.source(&path);
            let Some(found) = self.before.files.get(&source).copied() else {
                self.notes
                    .push(format!("{path}: already absent (the package deletes it)"));
                continue;
            };
            if found.digest != deletion.expected
                && !self.accept_local_change(
                    &path,
                    LocalChangeKind::Modified {
                        expected: deletion.expected,
                        found: found.digest,
                    },
                )
            {
                continue;
            }
            self.backup.insert(source.clone(), found);
            self.after.files.remove(&path);
            self.body.push(Op::DeleteFile(DeleteFileOp {
                path,
                old: backed_up(&source, found),
            }));
        }
        for file in &manifest.files {
            let path = layout.actual(&file.path);
            let source = layout.source(&path);
            let found = self.before.files.get(&source).copied();
            let change = match (file.replaces, found) {
                (_, Some(f)) if f.digest == file.digest => None,
                (Some(expected), Some(f)) if f.digest != expected => {
                    Some(LocalChangeKind::Modified {
                        expected,
                        found: f.digest,
                    })
                }
                (Some(expected), None) => Some(LocalChangeKind::Missing { expected }),
                (None, Some(f)) => Some(LocalChangeKind::Unexpected { found: f.digest }),
                _ => None,
            };
            if let Some(kind) = change
                && !self.accept_local_change(&path, kind)
            {
                continue;
            }
            let replaces = found.map(|f| backed_up(&source, f));
            if let Some(f) = found {
                self.backup.insert(source.clone(), f);
            }
            self.bytes_to_write += file.size;
            if let Some(bytes) = shipped.get(&file.path) {
                self.after.settings.insert(path.clone(), bytes.clone());
            }
            self.after.files.insert(
                path.clone(),
                FileFact {
                    size: file.size,
                    digest: file.digest,
                },
            );
            self.body.push(Op::WriteFile(WriteFileOp {
                path,
                entry: file.entry_name(),
                size: file.size,
                digest: file.digest,
                replaces,
            }));
        }
        Ok(())
    }
}

/// Files in the install after the step that the target version does not ship (and that are
/// not settings files): someone else's, left alone.
pub(super) fn extra_files(
    after: &InstallModel,
    manifest: &Manifest,
    layout: &Layout,
) -> Vec<RelPath> {
    let shipped: std::collections::BTreeSet<RelPath> = manifest
        .inventory
        .iter()
        .map(|e| layout.actual(&e.path))
        .collect();
    after
        .files
        .keys()
        .filter(|p| !shipped.contains(p) && !is_settings_file(p))
        .cloned()
        .collect()
}
