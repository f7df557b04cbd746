//! Plain types shared by every stage of the flow: message → classify → store → draft → HTTP.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Error returned when a wire string names no known variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`; expected one of: {expected}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// Implements `as_str`, `FromStr` and `Display` for a fieldless enum from one table, so the wire
/// names live in exactly one place.
macro_rules! wire_enum {
    ($name:ident, $kind:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownVariant {
                        kind: $kind,
                        value: other.to_string(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// How a message reached the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
    Voicemail,
    CallSummary,
}
wire_enum!(Channel, "channel", {
    Sms => "sms", Email => "email", Voicemail => "voicemail", CallSummary => "call_summary",
});

/// Whether the customer wrote it or the business did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}
wire_enum!(Direction, "direction", { Inbound => "inbound", Outbound => "outbound" });

/// Delivery state of a message; inbound messages are always `received`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Received,
    Queued,
    Sent,
    Delivered,
    Failed,
}
wire_enum!(DeliveryStatus, "delivery status", {
    Received => "received", Queued => "queued", Sent => "sent", Delivered => "delivered", Failed => "failed",
});

/// Workflow status an operator sets on a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThreadStatus {
    New,
    InProgress,
    Resolved,
}
wire_enum!(ThreadStatus, "status", { New => "new", InProgress => "in_progress", Resolved => "resolved" });

/// How soon a message needs a human, from most to least pressing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Low,
    Normal,
    High,
    Emergency,
}
wire_enum!(Urgency, "urgency", { Low => "low", Normal => "normal", High => "high", Emergency => "emergency" });

impl Urgency {
    /// Sort key stored beside the label so the Attention queue can order by it in SQL.
    pub fn rank(self) -> i64 {
        match self {
            Urgency::Low => 1,
            Urgency::Normal => 2,
            Urgency::High => 3,
            Urgency::Emergency => 4,
        }
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The inbox: threads, messages, drafts.
    Agent,
    /// Everything an agent can do, plus templates, settings and keys.
    Operator,
}
wire_enum!(Role, "role", { Agent => "agent", Operator => "operator" });

/// One tag the classifier asserts, with its score in 0..=1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TagScore {
    pub id: String,
    pub score: f32,
}

/// The urgency level the classifier chose, with its score in 0..=1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UrgencyScore {
    pub level: Urgency,
    pub score: f32,
}

/// A detected language (ISO 639-1) with the detector's confidence in 0..=1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LanguageGuess {
    pub code: String,
    pub confidence: f32,
}

/// A customer as the inbox shows it; every field is null for an Unknown Contact but its handle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CustomerRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// The newest message of a thread, for the list row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastMessage {
    pub body: String,
    pub direction: Direction,
    pub channel: Channel,
}

/// One customer's conversation across every channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Thread {
    pub id: String,
    pub customer: CustomerRef,
    pub status: ThreadStatus,
    pub pinned: bool,
    pub blocked: bool,
    pub needs_attention: bool,
    /// The oldest inbound message not yet answered.
    pub waiting_since: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
    pub last_message: Option<LastMessage>,
    pub tags: Vec<String>,
    pub urgency: Option<Urgency>,
    pub language: Option<String>,
    pub pending_drafts: i64,
}

/// One message in a thread, inbound or outbound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: String,
    pub thread_id: String,
    pub direction: Direction,
    pub channel: Channel,
    pub body: String,
    pub author: Option<String>,
    pub delivery_status: DeliveryStatus,
    pub delivery_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub source: Option<String>,
    pub external_id: Option<String>,
    /// The sender was blocked when this arrived: stored, never raises Attention.
    pub sender_blocked: bool,
    pub tags: Vec<TagScore>,
    pub urgency: Option<Urgency>,
    pub language: Option<String>,
}

/// Lifecycle of an AI draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DraftStatus {
    Pending,
    Sent,
    Discarded,
    Stale,
}
wire_enum!(DraftStatus, "draft status", {
    Pending => "pending", Sent => "sent", Discarded => "discarded", Stale => "stale",
});

/// A reply the AI wrote for an operator to approve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Draft {
    pub id: String,
    pub thread_id: String,
    pub goal: String,
    pub text: String,
    pub language: Option<String>,
    pub status: DraftStatus,
    pub stale_reason: Option<String>,
    /// Guardrail checks the draft still fails after its repair attempt.
    pub flags: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A reminder to get back to a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FollowUp {
    pub id: String,
    pub thread_id: String,
    pub due_at: DateTime<Utc>,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// How a business sounds and what it offers; drafts are written in this voice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct VoiceSettings {
    /// Business name as customers know it.
    pub name: String,
    /// e.g. "friendly and concise", "formal", "warm".
    pub tone: String,
    /// How replies end, e.g. "- Dana at Acme HVAC".
    pub sign_off: String,
    pub technicians: Vec<String>,
    pub service_area: String,
    pub hours: String,
    /// Words and phrases drafts must not use.
    pub avoid_words: Vec<String>,
    /// IANA time zone for "today" in drafts, e.g. "America/Chicago".
    pub time_zone: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(*c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for u in Urgency::ALL {
            assert_eq!(u.as_str().parse::<Urgency>(), Ok(*u));
        }
    }

    #[test]
    fn unknown_variant_names_the_choices() {
        let err = "fax".parse::<Channel>().unwrap_err();
        assert!(err.to_string().contains("sms email voicemail call_summary"));
    }

    #[test]
    fn urgency_orders_from_low_to_emergency() {
        assert!(Urgency::Emergency > Urgency::High);
        assert!(Urgency::High.rank() > Urgency::Normal.rank());
    }
}
