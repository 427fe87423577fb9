//! "Did you mean" for unknown option names.

/// The valid name closest to `given`, if it is close enough to be a typo.
pub(crate) fn nearest<'a>(given: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|name| (distance(given, name), *name))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn typos_find_their_option() {
        let valid = ["ttl", "key", "skip", "negative_ttl", "cache_none"];
        assert_eq!(super::nearest("tll", &valid), Some("ttl"));
        assert_eq!(super::nearest("negative_tl", &valid), Some("negative_ttl"));
        assert_eq!(super::nearest("cache_nones", &valid), Some("cache_none"));
        assert_eq!(super::nearest("banana", &valid), None);
    }
}
