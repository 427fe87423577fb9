use cache_runtime::cached;

#[derive(Clone, Debug)]
pub enum AppError {
    Parse(String),
}

impl From<std::num::ParseIntError> for AppError {
    fn from(error: std::num::ParseIntError) -> Self {
        AppError::Parse(error.to_string())
    }
}

// `?` converts errors and `return` leaves the body, in async and plain functions alike.
#[cached(ttl = 60)]
async fn parse_async(text: String) -> Result<u64, AppError> {
    if text.is_empty() {
        return Ok(0);
    }
    let number: u64 = text.parse()?;
    Ok(number)
}

#[cached(ttl = 60)]
fn parse_plain(text: String) -> Result<u64, AppError> {
    if text.is_empty() {
        return Ok(0);
    }
    Ok(text.parse::<u64>()?)
}

#[cached(ttl = 60)]
fn warm_up(id: u64) {
    let _ = id;
}

fn main() {
    let _ = parse_async(String::new());
    assert_eq!(parse_plain("7".into()).unwrap(), 7);
    warm_up(1);
}
