//! Readable keys: placeholders, field paths, escaping.

use cache_runtime::cached;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Filter {
    pub kind: String,
    pub page: u32,
}

#[cached(ttl = 600, key = "search:{query}:{filter.kind}:{filter.page}")]
fn search(query: &str, filter: &Filter) -> usize {
    query.len() + filter.kind.len() + filter.page as usize
}

#[cached(ttl = 600, key = "pair:{a}/{b}")]
fn pair(a: &str, b: &str) -> String {
    format!("{a}{b}")
}

#[cached(ttl = 600, key = "maybe:{id}")]
fn maybe(id: Option<u32>) -> u32 {
    id.unwrap_or(0)
}

#[test]
fn field_paths_render_and_values_are_escaped() {
    let filter = Filter {
        kind: "new items".into(),
        page: 2,
    };
    assert_eq!(
        search::key("rust:async", &filter).unwrap(),
        "cache:search:rust%3Aasync:new%20items:2"
    );
    assert_eq!(search("rust", &filter), 15);
}

#[test]
fn two_argument_lists_never_render_one_key() {
    assert_ne!(
        pair::key("a/b", "c").unwrap(),
        pair::key("a", "b/c").unwrap()
    );
    assert_eq!(pair("a/b", "c"), "a/bc");
    assert_eq!(pair("a", "b/c"), "ab/c");
    assert_ne!(maybe::key(&None).unwrap(), maybe::key(&Some(0)).unwrap());
    assert_eq!(maybe::key(&None).unwrap(), "cache:maybe:~");
}
