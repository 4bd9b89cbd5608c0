//! What a host change wants of its object, the same for every adapter: whether an observed
//! state already has it (then nothing is changed, and undo changes nothing either).

use crate::op::{HostChange, HostState};

use super::acl::covers_rights;

/// Whether `state` already has what `change` wants. A restart never has: it is an action,
/// done only when the object runs.
pub fn satisfies(change: &HostChange, state: &HostState) -> bool {
    match (change, state) {
        (HostChange::Stop, s) => is_running(s) == Some(false),
        (HostChange::Start { .. }, s) => is_running(s) == Some(true),
        (HostChange::Restart | HostChange::RestartIis, _) => false,
        (HostChange::Bind(wanted), HostState::Binding(Some(found))) => {
            // The certificate is what matters: a binding of another application id or store
            // name spelling that serves the same certificate is left alone.
            found.thumbprint.eq_ignore_ascii_case(&wanted.thumbprint)
        }
        (HostChange::Grant { rights }, HostState::Acl(entries)) => covers_rights(entries, rights),
        (HostChange::SetValue { value }, HostState::Value(Some(found))) => found == value,
        _ => false,
    }
}

/// Whether a site, pool or service state says it runs; `None` for other states.
pub fn is_running(state: &HostState) -> Option<bool> {
    match state {
        HostState::Running(running) | HostState::Service { running, .. } => Some(*running),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{AclEntry, SslBinding};

    fn binding(thumbprint: &str) -> SslBinding {
        SslBinding {
            thumbprint: thumbprint.into(),
            app_id: "{4dc3e181-e14b-4a21-b022-59fc669b0914}".into(),
            store: "MY".into(),
        }
    }

    #[test]
    fn what_already_holds_is_left_alone() {
        assert!(satisfies(&HostChange::Stop, &HostState::Running(false)));
        assert!(!satisfies(&HostChange::Stop, &HostState::Running(true)));
        assert!(satisfies(
            &HostChange::Start { stop_op: 0 },
            &HostState::Service {
                running: true,
                start_mode: "Auto".into()
            }
        ));
        assert!(!satisfies(&HostChange::Restart, &HostState::Running(true)));
        let wanted = HostChange::Bind(binding("AB12"));
        assert!(satisfies(
            &wanted,
            &HostState::Binding(Some(binding("ab12")))
        ));
        assert!(!satisfies(
            &wanted,
            &HostState::Binding(Some(binding("CD34")))
        ));
        assert!(!satisfies(&wanted, &HostState::Binding(None)));
        let grant = HostChange::Grant { rights: "F".into() };
        let full = AclEntry {
            rights: "(F)".into(),
            deny: false,
        };
        assert!(satisfies(&grant, &HostState::Acl(vec![full])));
        assert!(!satisfies(&grant, &HostState::Acl(vec![])));
        assert!(satisfies(
            &HostChange::SetValue {
                value: "4.2".into()
            },
            &HostState::Value(Some("4.2".into()))
        ));
        assert!(!satisfies(
            &HostChange::SetValue {
                value: "4.2".into()
            },
            &HostState::Value(None)
        ));
    }
}
