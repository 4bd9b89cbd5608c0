//! Database ops: backups of the existing databases when asked, then each new database the step
//! creates with its migrations, login, user and role memberships.

use crate::catalog::NewDatabase;
use crate::components;
use crate::model::InstallModel;
use crate::op::*;
use crate::relpath::RelPath;
use crate::sql::{self, DatabasePlanning, DatabaseUsers, LicenseManagerPermission};

use super::app_values::optional_configured;
use super::{PlanError, Planner};

impl Planner<'_> {
    pub(super) fn databases(&mut self) -> Result<(), PlanError> {
        let mut ops: Vec<Op> = self.database_backups();
        for database in self.spec.new_databases {
            if let Some(feature) = database.only_with
                && !optional_configured(feature, self.config())
            {
                self.notes.push(format!(
                    "database {} skipped: {feature:?} is not configured",
                    database.default_name
                ));
                continue;
            }
            for op in self.database_ops(database)? {
                // Several databases may share one Windows identity: one login op per step.
                if matches!(op, Op::Sql(SqlOp::CreateLogin { .. })) && ops.contains(&op) {
                    continue;
                }
                ops.push(op);
            }
        }
        self.body.splice(0..0, ops);
        Ok(())
    }

    /// One backup op per database the install has before this step, if backups are asked
    /// for: the databases of the components installed here that exist at the step's source
    /// version, named as the config names them (defaults otherwise).
    fn database_backups(&mut self) -> Vec<Op> {
        let Some(backups) = self.inputs.backups else {
            return Vec::new();
        };
        let from = self.step.from;
        let names = existing_databases(self.before, self.inputs.databases);
        self.notes.push(format!(
            "{} database(s) backed up to {} before any change (COPY_ONLY: the DBA's backup chain \
             is not reset); the files stay after a rollback",
            names.len(),
            backups.folder
        ));
        names
            .into_iter()
            .map(|database| {
                let file = backups.file_for(&database, from);
                Op::Sql(SqlOp::BackupDatabase { database, file })
            })
            .collect()
    }

    fn database_ops(&self, database: &NewDatabase) -> Result<Vec<Op>, PlanError> {
        let planning = self.inputs.databases;
        let name = planning
            .names
            .get(database.config_key)
            .cloned()
            .unwrap_or_else(|| database.default_name.to_string());
        let principal = match &planning.users {
            DatabaseUsers::SqlLogin(login) => Principal::SqlLogin(login.clone()),
            DatabaseUsers::AppPoolIdentities => {
                Principal::Windows(self.pool_identity_of(database.used_by)?)
            }
        };
        let mut ops = vec![SqlOp::CreateDatabase {
            database: name.clone(),
        }];
        for migration in sql::migrations_for(self.step.to, database.default_name) {
            ops.push(SqlOp::ApplyMigration {
                database: name.clone(),
                id: migration.id.to_string(),
                checksum: migration.checksum(),
            });
        }
        if let Principal::Windows(login) = &principal {
            ops.push(SqlOp::CreateLogin {
                login: login.clone(),
            });
        }
        ops.push(SqlOp::CreateUser {
            database: name.clone(),
            principal: principal.clone(),
        });
        let owner = database.license_manager_permissions
            && planning.license_manager == LicenseManagerPermission::DbOwner;
        let roles: &[&str] = if owner {
            &["db_owner"]
        } else {
            &["db_datareader", "db_datawriter"]
        };
        for role in roles {
            ops.push(SqlOp::AddRoleMember {
                database: name.clone(),
                role: role.to_string(),
                principal: principal.clone(),
            });
        }
        if database.license_manager_permissions && !owner {
            ops.push(SqlOp::GrantExecute {
                database: name,
                principal,
            });
        }
        Ok(ops.into_iter().map(Op::Sql).collect())
    }
}

/// The databases the install has at `model`'s version (what `--backup-databases` backs up):
/// those of the components installed here that exist at that version, named as the config
/// names them (defaults otherwise), each once.
pub fn existing_databases(model: &InstallModel, planning: &DatabasePlanning) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for info in components::COMPONENTS.iter() {
        let Some((default_name, since)) = info.database else {
            continue;
        };
        let installed = [info.folder_before_4_3, info.folder_from_4_3]
            .iter()
            .filter_map(|folder| RelPath::new(folder).ok())
            .any(|folder| model.has_folder(&folder));
        if since > model.version || !installed {
            continue;
        }
        let name = planning
            .names
            .get(info.key)
            .cloned()
            .unwrap_or_else(|| default_name.to_string());
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            names.push(name);
        }
    }
    names
}
