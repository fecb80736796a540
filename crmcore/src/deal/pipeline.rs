use serde::{Deserialize, Serialize};

use crate::deal::DealStatus;
use crate::error::{CrmError, Result};

/// What reaching a stage means for the deal's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StageKind {
    /// Still in play.
    Open,
    /// Closed won.
    Won,
    /// Closed lost.
    Lost,
}

impl StageKind {
    /// The deal status this stage implies.
    pub fn status(self) -> DealStatus {
        match self {
            StageKind::Open => DealStatus::Open,
            StageKind::Won => DealStatus::Won,
            StageKind::Lost => DealStatus::Lost,
        }
    }
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stage {
    /// Stable key, e.g. `proposal`.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Default win probability for deals entering it.
    pub probability: u8,
    /// Open, won or lost.
    pub kind: StageKind,
}

/// The ordered stages deals move through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pipeline {
    stages: Vec<Stage>,
}

impl Pipeline {
    /// Validates a pipeline: unique keys, probabilities ≤ 100, at least one open, one won and one lost stage.
    pub fn new(stages: Vec<Stage>) -> Result<Self> {
        let mut keys = std::collections::HashSet::new();
        for stage in &stages {
            if !keys.insert(stage.key.as_str()) {
                return Err(CrmError::invalid("stages", "duplicate", format!("duplicate stage key `{}`", stage.key)));
            }
            if stage.probability > 100 {
                return Err(CrmError::invalid("stages", "out_of_range", "stage probability must be 0 to 100"));
            }
        }
        for kind in [StageKind::Open, StageKind::Won, StageKind::Lost] {
            if !stages.iter().any(|s| s.kind == kind) {
                return Err(CrmError::invalid("stages", "incomplete", "a pipeline needs open, won and lost stages"));
            }
        }
        Ok(Self { stages })
    }

    /// The stages in pipeline order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// Looks a stage up by key; a validation error on `stage` when unknown.
    pub fn stage(&self, key: &str) -> Result<&Stage> {
        self.stages.iter().find(|s| s.key == key).ok_or_else(|| {
            let known = self.stages.iter().map(|s| s.key.as_str()).collect::<Vec<_>>().join(", ");
            CrmError::invalid("stage", "unknown", format!("unknown stage `{key}`; stages are: {known}"))
        })
    }

    /// The first open stage: where new deals start by default.
    pub fn first_open(&self) -> &Stage {
        // `new` guarantees an open stage exists.
        self.stages.iter().find(|s| s.kind == StageKind::Open).unwrap_or(&self.stages[0])
    }

    /// The position of a stage in the pipeline.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.key == key)
    }
}

impl Default for Pipeline {
    /// lead → qualified → proposal → negotiation → won | lost.
    fn default() -> Self {
        let stage =
            |key: &str, name: &str, probability, kind| Stage { key: key.into(), name: name.into(), probability, kind };
        Self {
            stages: vec![
                stage("lead", "Lead", 10, StageKind::Open),
                stage("qualified", "Qualified", 25, StageKind::Open),
                stage("proposal", "Proposal", 50, StageKind::Open),
                stage("negotiation", "Negotiation", 75, StageKind::Open),
                stage("won", "Won", 100, StageKind::Won),
                stage("lost", "Lost", 0, StageKind::Lost),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pipeline_is_valid() {
        let p = Pipeline::default();
        assert!(Pipeline::new(p.stages().to_vec()).is_ok());
        assert_eq!(p.first_open().key, "lead");
        assert!(p.stage("nope").is_err());
    }
}
