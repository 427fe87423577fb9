//! `ttl_from` on each return shape: the function takes the stored value (`T`).
use std::time::Duration;

use cache_runtime::cached;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Token {
    expires_in: u64,
}

fn token_lifetime(token: &Token) -> Duration {
    Duration::from_secs(token.expires_in)
}

#[derive(Debug, Clone)]
struct AuthError;

#[cached(ttl = "1h", ttl_from = token_lifetime)]
async fn token(user: u64) -> Result<Token, AuthError> {
    Ok(Token { expires_in: user })
}

#[cached(ttl = "1h", ttl_from = token_lifetime, cache_none, negative_ttl = 5)]
fn maybe_token(user: u64) -> Option<Token> {
    Some(Token { expires_in: user })
}

#[cached(ttl = "1h", ttl_from = self::token_lifetime)]
fn plain_token(user: u64) -> Token {
    Token { expires_in: user }
}

fn main() {
    let _ = (token(1), maybe_token(1), plain_token(1));
}
