//! Where an object stands in the pipeline, read from its status record:
//! the one question `thumbflow upload` and `thumbflow status --wait` ask
//! again and again. Pure, so every case is a unit test.

use serde::Serialize;
use thumbflow_events::{ObjectStatus, StageState, STAGES};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An object's place in the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Verdict {
    /// Not every stage has answered yet.
    Pending {
        /// The last stage that answered, if any.
        last_stage: Option<String>,
    },
    /// Every stage did its work: thumbnails stored, notifier done.
    Done,
    /// A stage skipped the object on purpose (not an image, a thumbnail).
    Ignored {
        /// The stage that skipped it.
        stage: String,
        /// Why, in that stage's words.
        reason: String,
    },
    /// A stage could not do its work.
    Failed {
        /// The stage that failed.
        stage: String,
        /// The error, in that stage's words.
        reason: String,
        /// Whether the same input may succeed later.
        retryable: bool,
    },
}

impl Verdict {
    /// Whether the pipeline is finished with the object (nothing more will
    /// be recorded for this run).
    pub fn is_final(&self) -> bool {
        !matches!(self, Verdict::Pending { .. })
    }

    /// Short word for human output and summaries.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Pending { .. } => "pending",
            Verdict::Done => "done",
            Verdict::Ignored { .. } => "ignored",
            Verdict::Failed { .. } => "failed",
        }
    }
}

fn parse(at: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(at, &Rfc3339).ok()
}

/// The verdict on `status`, counting only stage results recorded at or
/// after `since` (RFC 3339), so an object uploaded again is not judged by
/// the results of its previous run. `None` counts every result.
pub fn verdict(status: &ObjectStatus, since: Option<&str>) -> Verdict {
    let since = since.and_then(parse);
    let current = |at: &str| match (since, parse(at)) {
        (Some(since), Some(at)) => at >= since,
        // An unparsable time is compared as text, as the record itself does.
        _ => true,
    };
    let mut last_stage = None;
    for stage in STAGES {
        let Some(result) = status.stages.get(stage).filter(|s| current(&s.at)) else {
            // Objects that reach the pipeline through a storage notification
            // or `POST /events` never pass the gateway's upload route.
            if stage == "gateway" {
                continue;
            }
            return Verdict::Pending { last_stage };
        };
        let reason = || result.detail.clone().unwrap_or_default();
        match result.state {
            // A retryable failure is retried by the stage's queue: not final yet.
            StageState::Failed if result.retryable == Some(true) => {
                return Verdict::Pending { last_stage }
            }
            StageState::Failed | StageState::Dead => {
                return Verdict::Failed {
                    stage: stage.to_owned(),
                    reason: reason(),
                    retryable: result.retryable.unwrap_or(false),
                }
            }
            StageState::Ignored => {
                return Verdict::Ignored {
                    stage: stage.to_owned(),
                    reason: reason(),
                }
            }
            StageState::Done => last_stage = Some(stage.to_owned()),
        }
    }
    Verdict::Done
}

#[cfg(test)]
mod tests {
    use super::*;
    use thumbflow_events::StageStatus;

    fn record(stages: &[(&str, StageState, &str)]) -> ObjectStatus {
        let mut status = ObjectStatus::new("b", "k.jpg");
        for (stage, state, at) in stages {
            status.record(
                stage,
                StageStatus {
                    state: *state,
                    at: (*at).to_owned(),
                    detail: Some(format!("{stage} says so")),
                    retryable: matches!(state, StageState::Failed).then_some(false),
                },
            );
        }
        status
    }

    const T0: &str = "2026-12-02T10:00:00Z";
    const T1: &str = "2026-12-02T10:00:01Z";
    const T2: &str = "2026-12-02T10:00:02Z";

    #[test]
    fn verdict_follows_the_stages_in_order() {
        use StageState::*;
        assert_eq!(
            verdict(&record(&[]), None),
            Verdict::Pending { last_stage: None }
        );
        assert_eq!(
            verdict(
                &record(&[("gateway", Done, T0), ("normalizer", Done, T1)]),
                None
            ),
            Verdict::Pending {
                last_stage: Some("normalizer".into())
            }
        );
        let all = [
            ("gateway", Done, T0),
            ("normalizer", Done, T1),
            ("thumbnailer", Done, T1),
            ("notifier", Done, T2),
        ];
        assert_eq!(verdict(&record(&all), None), Verdict::Done);
    }

    #[test]
    fn verdict_names_the_failing_or_ignoring_stage() {
        use StageState::*;
        let failed = record(&[
            ("gateway", Done, T0),
            ("normalizer", Done, T1),
            ("thumbnailer", Failed, T2),
        ]);
        assert_eq!(
            verdict(&failed, None),
            Verdict::Failed {
                stage: "thumbnailer".into(),
                reason: "thumbnailer says so".into(),
                retryable: false
            }
        );
        // An object from a storage notification has no gateway stage.
        let ignored = record(&[("normalizer", Ignored, T1)]);
        assert!(
            matches!(verdict(&ignored, None), Verdict::Ignored { ref stage, .. } if stage == "normalizer")
        );
        assert!(verdict(&ignored, None).is_final());
    }

    #[test]
    fn verdict_ignores_results_of_an_earlier_run() {
        use StageState::*;
        // Uploaded again at T2: the previous run's done stages do not count.
        let status = record(&[
            ("gateway", Done, T2),
            ("normalizer", Done, T0),
            ("thumbnailer", Failed, T0),
            ("notifier", Done, T1),
        ]);
        assert_eq!(
            verdict(&status, Some(T2)),
            Verdict::Pending {
                last_stage: Some("gateway".into())
            }
        );
        assert!(matches!(verdict(&status, None), Verdict::Failed { .. }));
    }
}
