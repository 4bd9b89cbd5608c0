//! The broker's part of a step: with `--enable-quorum-queue`, the step from 4.1 enables
//! RabbitMQ's `quorum_queue` feature flag through the management API (`Op::Broker`), before
//! the step starts Hub's sites, whose new queues are quorum queues (the guide's
//! troubleshooting fix, `rabbitmqctl enable_feature_flag quorum_queue`, done by hubup and
//! journaled). It needs `[rabbitmq]` with a user of the administrator tag.

use crate::catalog::Prerequisite;
use crate::op::{BrokerOp, Op};
use crate::rabbitmq::QUORUM_QUEUE_FLAG;

use super::{PlanError, Planner};

impl Planner<'_> {
    /// The feature-flag op, when asked for and this step needs the flag.
    pub(super) fn broker(&mut self) -> Result<(), PlanError> {
        let needs_flag = self
            .spec
            .prerequisites
            .contains(&Prerequisite::QuorumQueues);
        if !self.inputs.enable_quorum_queue || !needs_flag {
            return Ok(());
        }
        let Some(url) = self.config().rabbitmq.management_url.clone() else {
            return Err(PlanError::BrokerNotConfigured { step: self.step });
        };
        self.body.push(Op::Broker(BrokerOp {
            flag: QUORUM_QUEUE_FLAG.to_string(),
            management_url: url,
        }));
        Ok(())
    }
}
