//! Key templates: `key = "user:{id}:{filter.kind}"`.
//!
//! A placeholder names a parameter, `self`, or a field path of either. Placeholder values are
//! written from the alphabet `[A-Za-z0-9_.~%-]` (everything else is percent-escaped at run
//! time), so requiring a character outside it between two placeholders makes rendering
//! injective: two different argument lists never give the same key.

use proc_macro2::Span;
use syn::LitStr;

pub(crate) enum Segment {
    Text(String),
    Field { root: String, path: Vec<String> },
}

pub(crate) struct Template {
    pub(crate) segments: Vec<Segment>,
    pub(crate) span: Span,
}

impl Template {
    /// The parameter (or `self`) each placeholder starts from.
    pub(crate) fn roots(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Field { root, .. } => Some(root.as_str()),
            Segment::Text(_) => None,
        })
    }
}

fn writes_values(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '~' | '%')
}

pub(crate) fn parse(lit: &LitStr) -> syn::Result<Template> {
    let text = lit.value();
    let error = |message: String| syn::Error::new(lit.span(), message);
    if text.trim().is_empty() {
        return Err(error(
            "`key` is empty; write a template such as `key = \"user:{id}\"`".into(),
        ));
    }
    let mut segments = Vec::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                segments.push(Segment::Text(rest.to_owned()));
                rest = "";
            }
            Some(at) if rest.as_bytes()[at] == b'}' => {
                return Err(error(format!(
                    "unbalanced braces in `key`: `}}` at `{}` closes nothing",
                    &rest[at..]
                )));
            }
            Some(at) => {
                if at > 0 {
                    segments.push(Segment::Text(rest[..at].to_owned()));
                }
                let inner_and_rest = &rest[at + 1..];
                let close = inner_and_rest
                    .find(['{', '}'])
                    .filter(|&c| inner_and_rest.as_bytes()[c] == b'}');
                let Some(close) = close else {
                    return Err(error(format!(
                        "unbalanced braces in `key`: `{{` at `{}` is never closed",
                        &rest[at..]
                    )));
                };
                segments.push(placeholder(inner_and_rest[..close].trim()).map_err(error)?);
                rest = &inner_and_rest[close + 1..];
            }
        }
    }
    check_separators(&segments).map_err(error)?;
    Ok(Template {
        segments,
        span: lit.span(),
    })
}

fn placeholder(inner: &str) -> Result<Segment, String> {
    if inner.is_empty() {
        return Err("empty placeholder `{}` in `key`: name a parameter, as in `{id}`".into());
    }
    let mut parts = inner.split('.').map(str::trim);
    let root = parts.next().unwrap_or_default().to_owned();
    let path: Vec<String> = parts.map(str::to_owned).collect();
    let is_ident = |part: &str| {
        part.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    let is_field = |part: &str| {
        is_ident(part) || (!part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
    };
    if !is_ident(&root) || !path.iter().all(|part| is_field(part)) {
        return Err(format!(
            "placeholder `{{{inner}}}` in `key` is not a parameter or a field path such as `{{user.id}}`"
        ));
    }
    Ok(Segment::Field { root, path })
}

fn check_separators(segments: &[Segment]) -> Result<(), String> {
    let mut previous: Option<&Segment> = None;
    let mut separated = true;
    for segment in segments {
        match segment {
            Segment::Text(text) => separated |= text.chars().any(|c| !writes_values(c)),
            Segment::Field { .. } => {
                if let (Some(before), false) = (previous, separated) {
                    return Err(format!(
                        "placeholders `{}` and `{}` in `key` need a separator such as `:` between them, \
                         or two different argument lists could render the same key",
                        show(before),
                        show(segment)
                    ));
                }
                previous = Some(segment);
                separated = false;
            }
        }
    }
    Ok(())
}

fn show(segment: &Segment) -> String {
    match segment {
        Segment::Field { root, path } if path.is_empty() => format!("{{{root}}}"),
        Segment::Field { root, path } => format!("{{{root}.{}}}", path.join(".")),
        Segment::Text(text) => text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Template, String> {
        parse(&LitStr::new(text, Span::call_site())).map_err(|error| error.to_string())
    }

    impl std::fmt::Debug for Template {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.segments.iter().map(show).collect::<String>())
        }
    }

    #[test]
    fn placeholders_and_text() {
        let template = parse_str("user:{id}:{filter.kind}").unwrap();
        assert_eq!(template.roots().collect::<Vec<_>>(), ["id", "filter"]);
        assert_eq!(template.segments.len(), 4);
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse_str("").unwrap_err().contains("empty"));
        assert!(parse_str("user:{id").unwrap_err().contains("never closed"));
        assert!(parse_str("user:id}")
            .unwrap_err()
            .contains("closes nothing"));
        assert!(parse_str("user:{}")
            .unwrap_err()
            .contains("empty placeholder"));
        assert!(parse_str("{a}{b}").unwrap_err().contains("separator"));
        assert!(parse_str("{a}-{b}").unwrap_err().contains("separator"));
        assert!(parse_str("{a}/{b}").is_ok());
        assert!(parse_str("{a b}").unwrap_err().contains("not a parameter"));
    }
}
