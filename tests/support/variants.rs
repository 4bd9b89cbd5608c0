//! The variants of the enums a journal entry is made of, named two ways that must agree: by
//! exhaustive matches over values ([`variants_in_op`], [`variants_in_payload`]: no `_` arm and
//! no `..` over an enum, so a new variant does not compile until it is named here), and by the
//! types' own derived deserializers ([`journaled_variants`]: the list a new variant joins
//! without anyone writing it down). `journal_golden_variants` compares them with `all_ops` and
//! the golden journals.

use std::collections::BTreeSet;

use hubup::{
    AppHostEdit, CommandPurpose, ExternalFile, HostChange, HostObject, HostState, Op, OpOutcome,
    Payload, Principal, RunOutcome, SettingsChange, SqlBefore, SqlOp,
};

/// The variants `op` is made of, as `Enum::Variant`: its own, and those of the SQL op, command
/// purpose, IIS edit, settings changes, principals and external files inside it.
///
/// Exhaustive on purpose: a new variant of any of these enums does not compile until it is
/// named here (then give `support::journal::all_ops` an example).
pub fn variants_in_op(op: &Op) -> Vec<&'static str> {
    let mut out = vec![match op {
        Op::Backup(_) => "Op::Backup",
        Op::WriteFile(_) => "Op::WriteFile",
        Op::DeleteFile(_) => "Op::DeleteFile",
        Op::RenameFolder(_) => "Op::RenameFolder",
        Op::EditAppHost(_) => "Op::EditAppHost",
        Op::EditSettings(_) => "Op::EditSettings",
        Op::Command(_) => "Op::Command",
        Op::Sql(_) => "Op::Sql",
        Op::Host(_) => "Op::Host",
        Op::Broker(_) => "Op::Broker",
    }];
    match op {
        Op::Backup(backup) => {
            for (file, _) in &backup.external {
                out.push(match file {
                    ExternalFile::AppHostConfig => "ExternalFile::AppHostConfig",
                });
            }
        }
        Op::WriteFile(_) | Op::DeleteFile(_) | Op::RenameFolder(_) | Op::Broker(_) => {}
        Op::EditAppHost(edit) => out.push(match edit.edit {
            AppHostEdit::RenameSite { .. } => "AppHostEdit::RenameSite",
            AppHostEdit::AddSite(_) => "AppHostEdit::AddSite",
            AppHostEdit::AddSiteWithPoolIdentity { .. } => "AppHostEdit::AddSiteWithPoolIdentity",
        }),
        Op::EditSettings(edit) => out.extend(edit.changes.iter().map(|change| match change {
            SettingsChange::Add { .. } => "SettingsChange::Add",
            SettingsChange::Rename { .. } => "SettingsChange::Rename",
            SettingsChange::Remove { .. } => "SettingsChange::Remove",
            SettingsChange::Set { .. } => "SettingsChange::Set",
        })),
        Op::Command(command) => out.push(match command.purpose {
            CommandPurpose::StopSite { .. } => "CommandPurpose::StopSite",
            CommandPurpose::StartSite { .. } => "CommandPurpose::StartSite",
            CommandPurpose::SetSslBinding { .. } => "CommandPurpose::SetSslBinding",
            CommandPurpose::SetAppPoolIdentity { .. } => "CommandPurpose::SetAppPoolIdentity",
            CommandPurpose::GrantCertificateKeyAccess { .. } => {
                "CommandPurpose::GrantCertificateKeyAccess"
            }
            CommandPurpose::SetFolderAcl { .. } => "CommandPurpose::SetFolderAcl",
            CommandPurpose::RestartService { .. } => "CommandPurpose::RestartService",
            CommandPurpose::RecycleAppPool { .. } => "CommandPurpose::RecycleAppPool",
            CommandPurpose::RestartIis => "CommandPurpose::RestartIis",
            CommandPurpose::SetInstalledVersion { .. } => "CommandPurpose::SetInstalledVersion",
        }),
        Op::Sql(sql) => {
            let (variant, principal) = match sql {
                SqlOp::CreateDatabase { .. } => ("SqlOp::CreateDatabase", None),
                SqlOp::ApplyMigration { .. } => ("SqlOp::ApplyMigration", None),
                SqlOp::CreateUser { principal, .. } => ("SqlOp::CreateUser", Some(principal)),
                SqlOp::AddRoleMember { principal, .. } => ("SqlOp::AddRoleMember", Some(principal)),
                SqlOp::GrantExecute { principal, .. } => ("SqlOp::GrantExecute", Some(principal)),
                SqlOp::CreateLogin { .. } => ("SqlOp::CreateLogin", None),
                SqlOp::BackupDatabase { .. } => ("SqlOp::BackupDatabase", None),
            };
            out.push(variant);
            out.extend(principal.map(|p| match p {
                Principal::Windows(_) => "Principal::Windows",
                Principal::SqlLogin(_) => "Principal::SqlLogin",
            }));
        }
        Op::Host(h) => {
            out.push(match h.object {
                HostObject::Site { .. } => "HostObject::Site",
                HostObject::AppPool { .. } => "HostObject::AppPool",
                HostObject::Service { .. } => "HostObject::Service",
                HostObject::SslBinding { .. } => "HostObject::SslBinding",
                HostObject::CertificateKey { .. } => "HostObject::CertificateKey",
                HostObject::FolderAcl { .. } => "HostObject::FolderAcl",
                HostObject::RegistryValue { .. } => "HostObject::RegistryValue",
                HostObject::Iis => "HostObject::Iis",
            });
            out.push(match h.change {
                HostChange::Stop => "HostChange::Stop",
                HostChange::Start { .. } => "HostChange::Start",
                HostChange::Restart => "HostChange::Restart",
                HostChange::Bind(_) => "HostChange::Bind",
                HostChange::Grant { .. } => "HostChange::Grant",
                HostChange::SetValue { .. } => "HostChange::SetValue",
                HostChange::RestartIis => "HostChange::RestartIis",
            });
        }
    }
    out
}

/// The variants a payload is made of, as `Enum::Variant`: its own, its op outcome, run
/// outcome, database pre-state or host state, and (for a plan) those of its ops. Exhaustive like [`variants_in_op`].
pub fn variants_in_payload(payload: &Payload) -> Vec<&'static str> {
    let outcome = |outcome: &OpOutcome| match outcome {
        OpOutcome::Applied => "OpOutcome::Applied",
        OpOutcome::AlreadyPresent => "OpOutcome::AlreadyPresent",
        OpOutcome::Skipped { .. } => "OpOutcome::Skipped",
        OpOutcome::BackedUp { .. } => "OpOutcome::BackedUp",
    };
    match payload {
        Payload::RunStarted { .. } => vec!["Payload::RunStarted"],
        Payload::StepPlanned { ops, .. } => {
            let mut out = vec!["Payload::StepPlanned"];
            out.extend(ops.iter().flat_map(variants_in_op));
            out
        }
        Payload::OpIntent { .. } => vec!["Payload::OpIntent"],
        Payload::OpDone { outcome: o, .. } => vec!["Payload::OpDone", outcome(o)],
        Payload::OpFailed { .. } => vec!["Payload::OpFailed"],
        Payload::OpUndone { .. } => vec!["Payload::OpUndone"],
        Payload::StepCommitted { .. } => vec!["Payload::StepCommitted"],
        Payload::RollbackStarted { .. } => vec!["Payload::RollbackStarted"],
        Payload::StepRolledBack { .. } => vec!["Payload::StepRolledBack"],
        Payload::RunResumed {} => vec!["Payload::RunResumed"],
        Payload::RunCancelled { .. } => vec!["Payload::RunCancelled"],
        Payload::RunFinished { outcome } => vec![
            "Payload::RunFinished",
            match outcome {
                RunOutcome::Completed { .. } => "RunOutcome::Completed",
                RunOutcome::RolledBack { .. } => "RunOutcome::RolledBack",
            },
        ],
        Payload::Note { .. } => vec!["Payload::Note"],
        Payload::SqlBefore { before, .. } => vec![
            "Payload::SqlBefore",
            match before {
                SqlBefore::DatabaseAbsent { .. } => "SqlBefore::DatabaseAbsent",
                SqlBefore::Login { .. } => "SqlBefore::Login",
            },
        ],
        Payload::AwaitingDba { .. } => vec!["Payload::AwaitingDba"],
        Payload::DbaWorkDone { .. } => vec!["Payload::DbaWorkDone"],
        Payload::BackupRemoved { .. } => vec!["Payload::BackupRemoved"],
        Payload::RepairPlanned { .. } => vec!["Payload::RepairPlanned"],
        Payload::RepairDone { .. } => vec!["Payload::RepairDone"],
        Payload::HostStateBefore { .. } => vec!["Payload::HostStateBefore"],
        Payload::BackupPruning { .. } => vec!["Payload::BackupPruning"],
        Payload::HostObserved { state, .. } => vec![
            "Payload::HostObserved",
            match state {
                HostState::Running(_) => "HostState::Running",
                HostState::Service { .. } => "HostState::Service",
                HostState::Binding(_) => "HostState::Binding",
                HostState::Acl(_) => "HostState::Acl",
                HostState::Value(_) => "HostState::Value",
                HostState::Sites(_) => "HostState::Sites",
            },
        ],
    }
}

/// Every variant of every enum a journal entry is made of, as `Enum::Variant`, from the types'
/// own (derived) deserializers: the list a new variant joins without anyone writing it down.
pub fn journaled_variants() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |name: &str, variants: &[&str]| {
        out.extend(variants.iter().map(|v| format!("{name}::{v}")));
    };
    add("Op", variant_names::<Op>());
    add("SqlOp", variant_names::<SqlOp>());
    add("CommandPurpose", variant_names::<CommandPurpose>());
    add("AppHostEdit", variant_names::<AppHostEdit>());
    add("SettingsChange", variant_names::<SettingsChange>());
    add("Principal", variant_names::<Principal>());
    add("ExternalFile", variant_names::<ExternalFile>());
    add("OpOutcome", variant_names::<OpOutcome>());
    add("Payload", variant_names::<Payload>());
    add("RunOutcome", variant_names::<RunOutcome>());
    add("SqlBefore", variant_names::<SqlBefore>());
    add("HostObject", variant_names::<HostObject>());
    add("HostChange", variant_names::<HostChange>());
    add("HostState", variant_names::<HostState>());
    out
}

/// The variant names of enum `T`, as its derived `Deserialize` hands them to the deserializer.
fn variant_names<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    let mut names = VariantNames(None);
    // The deserializer only takes note of the names and fails; the error is expected.
    let _ = T::deserialize(&mut names);
    names
        .0
        .expect("the type is an enum with a derived Deserialize")
}

/// A deserializer that records the variant names an enum's `Deserialize` asks for.
struct VariantNames(Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for &mut VariantNames {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not an enum"))
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(variants);
        Err(serde::de::Error::custom("variant names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}
