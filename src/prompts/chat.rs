//! Splits a rendered template into chat turns at `--- role ---` marker lines.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnRole {
    System,
    User,
    Assistant,
}

/// One message of a chat prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChatTurn {
    pub role: TurnRole,
    pub content: String,
}

impl From<ChatTurn> for crate::llm::ChatMessage {
    fn from(turn: ChatTurn) -> Self {
        let role = match turn.role {
            TurnRole::System => crate::llm::Role::System,
            TurnRole::User => crate::llm::Role::User,
            TurnRole::Assistant => crate::llm::Role::Assistant,
        };
        crate::llm::ChatMessage::new(role, turn.content)
    }
}

fn marker(line: &str) -> Option<TurnRole> {
    match line.trim() {
        "--- system ---" => Some(TurnRole::System),
        "--- user ---" => Some(TurnRole::User),
        "--- assistant ---" => Some(TurnRole::Assistant),
        _ => None,
    }
}

/// The turns of a rendered prompt. It must start with a marker and end with a user turn, which
/// the model answers, or with an assistant turn after it: the answer's opening, which the model
/// continues.
pub(crate) fn split_turns(text: &str) -> Result<Vec<ChatTurn>, String> {
    let mut turns: Vec<ChatTurn> = Vec::new();
    for line in text.lines() {
        if let Some(role) = marker(line) {
            turns.push(ChatTurn {
                role,
                content: String::new(),
            });
            continue;
        }
        match turns.last_mut() {
            Some(turn) => {
                turn.content.push_str(line);
                turn.content.push('\n');
            }
            None if line.trim().is_empty() => {}
            None => {
                return Err("text before the first `--- system ---` or `--- user ---` line".into())
            }
        }
    }
    for turn in &mut turns {
        turn.content = turn.content.trim().to_string();
    }
    let asks = match turns.as_slice() {
        [.., user, opening] if opening.role == TurnRole::Assistant => {
            user.role == TurnRole::User && !user.content.is_empty() && !opening.content.is_empty()
        }
        [.., user] => user.role == TurnRole::User && !user.content.is_empty(),
        [] => false,
    };
    if asks {
        Ok(turns)
    } else {
        Err(
            "the prompt must end with a non-empty `--- user ---` turn, optionally followed by \
             a non-empty `--- assistant ---` turn that opens the reply"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_roles_and_trims() {
        let turns = split_turns(
            "--- system ---\nBe brief.\n\n--- user ---\nhi\n--- assistant ---\nhello\n--- user ---\nbye\n",
        )
        .unwrap();
        let roles: Vec<TurnRole> = turns.iter().map(|t| t.role).collect();
        assert_eq!(
            roles,
            vec![
                TurnRole::System,
                TurnRole::User,
                TurnRole::Assistant,
                TurnRole::User
            ]
        );
        assert_eq!(turns[0].content, "Be brief.");
    }

    #[test]
    fn refuses_loose_text_and_missing_user_turn() {
        assert!(split_turns("hello\n--- user ---\nx").is_err());
        assert!(split_turns("--- system ---\nx\n--- user ---\n   ").is_err());
        assert!(split_turns("--- system ---\nx\n--- assistant ---\nHi").is_err());
        assert!(split_turns("--- user ---\nx\n--- assistant ---\n  ").is_err());
    }

    #[test]
    fn a_final_assistant_turn_opens_the_reply() {
        let turns =
            split_turns("--- user ---\nReply to Ana.\n--- assistant ---\nHi Ana,\n").unwrap();
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[1].role, TurnRole::Assistant);
        assert_eq!(turns[1].content, "Hi Ana,");
    }
}
