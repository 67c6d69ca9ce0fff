//! `{{ name }}` templates, as Spin's `spin-expressions` reads them
//! (`crates/expressions/src/template.rs`): text with expressions in double
//! braces, each expression the name of an application variable (whitespace
//! inside the braces is ignored).

use super::ManifestError;

/// One piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part<'a> {
    /// Text copied as it is.
    Literal(&'a str),
    /// `{{ name }}`: the value of the application variable `name`.
    Variable(&'a str),
}

/// Splits `template` into literal text and variable references.
///
/// A `{{` without a later `}}` is an error; `}}` without `{{` is literal text
/// (as in Spin). The name is not checked here: [`expand`] and the manifest
/// validation check it against the declared variables.
pub(crate) fn parse(template: &str) -> Result<Vec<Part<'_>>, ManifestError> {
    let mut parts = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find("{{") {
            None => {
                parts.push(Part::Literal(rest));
                rest = "";
            }
            Some(0) => {
                let Some((expr, after)) = rest[2..].split_once("}}") else {
                    return Err(ManifestError::UnterminatedTemplate {
                        template: template.to_owned(),
                    });
                };
                parts.push(Part::Variable(expr.trim()));
                rest = after;
            }
            Some(start) => {
                parts.push(Part::Literal(&rest[..start]));
                rest = &rest[start..];
            }
        }
    }
    Ok(parts)
}

/// Whether `parts` has no variable reference (Spin checks such an entry as it
/// is, without resolving anything).
pub(crate) fn is_literal(parts: &[Part<'_>]) -> bool {
    parts.iter().all(|part| matches!(part, Part::Literal(_)))
}

/// `parts` written back the way Spin prints a template in its messages: every
/// expression as `{{ name }}`, whatever the spacing in the manifest.
pub(crate) fn display(parts: &[Part<'_>]) -> String {
    parts
        .iter()
        .map(|part| match part {
            Part::Literal(text) => (*text).to_owned(),
            Part::Variable(name) => format!("{{{{ {name} }}}}"),
        })
        .collect()
}

/// Expands `template`, looking each variable up with `lookup`.
///
/// A name that `lookup` does not know is an error naming it.
pub(crate) fn expand<'v>(
    template: &str,
    lookup: impl Fn(&str) -> Option<&'v str>,
) -> Result<String, ManifestError> {
    let mut out = String::with_capacity(template.len());
    for part in parse(template)? {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Variable(name) => match lookup(name) {
                Some(value) => out.push_str(value),
                None => {
                    return Err(ManifestError::UnknownVariable {
                        name: name.to_owned(),
                        template: template.to_owned(),
                    })
                }
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<&'static str> {
        match name {
            "host" => Some("127.0.0.1"),
            "port" => Some("6379"),
            "empty" => Some(""),
            _ => None,
        }
    }

    #[test]
    fn parse_splits_literals_and_variables() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse("plain").unwrap(), vec![Part::Literal("plain")]);
        assert_eq!(
            parse("a-{{ x }}-b{{y}}").unwrap(),
            vec![
                Part::Literal("a-"),
                Part::Variable("x"),
                Part::Literal("-b"),
                Part::Variable("y"),
            ]
        );
        assert_eq!(parse("}} {").unwrap(), vec![Part::Literal("}} {")]);
    }

    #[test]
    fn display_normalizes_spacing_like_spin() {
        let parts = parse("https://{{host}}:{{  port }}").unwrap();
        assert_eq!(display(&parts), "https://{{ host }}:{{ port }}");
        assert!(!is_literal(&parts));
        let literal = parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(display(&literal), "redis://127.0.0.1:6379");
        assert!(is_literal(&literal));
        assert!(is_literal(&parse("").unwrap()));
    }

    #[test]
    fn expand_substitutes_with_and_without_spaces() {
        let out = expand("redis://{{ host }}:{{port}}", lookup).unwrap();
        assert_eq!(out, "redis://127.0.0.1:6379");
        assert_eq!(expand("{{empty}}", lookup).unwrap(), "");
        assert_eq!(expand("no templates", lookup).unwrap(), "no templates");
    }

    #[test]
    fn expand_unknown_variable_is_named() {
        let err = expand("x{{ nope }}", lookup).unwrap_err();
        assert!(
            matches!(&err, ManifestError::UnknownVariable { name, .. } if name == "nope"),
            "{err:?}"
        );
        assert!(err.to_string().contains("`nope`"), "{err}");
    }

    #[test]
    fn expand_unterminated_is_an_error() {
        let err = expand("{{ host }} and {{ port", lookup).unwrap_err();
        assert!(
            matches!(err, ManifestError::UnterminatedTemplate { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("unmatched '{{' in template"),
            "{err}"
        );
    }

    #[test]
    fn expand_empty_expression_is_an_unknown_variable() {
        let err = expand("{{ }}", lookup).unwrap_err();
        assert!(
            matches!(&err, ManifestError::UnknownVariable { name, .. } if name.is_empty()),
            "{err:?}"
        );
    }
}
