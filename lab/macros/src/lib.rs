//! `#[bfd_lab::test]`: a `#[test]` whose outcome the lab's harness
//! records, so that the lab's guards (agents, daemons) print their logs
//! when the test fails and stay quiet when it passes, without the test
//! saying so at its end.
//!
//! ```ignore
//! #[bfd_lab::test]
//! fn up_and_down() -> anyhow::Result<()> {
//!     // ... `?` and `return` work as in any test.
//!     Ok(())
//! }
//! ```
//!
//! becomes a `#[test]` of the same name and signature whose body runs in
//! `bfd_lab::harness::run(move || -> RETURN { BODY })`. Written on
//! `proc_macro` alone: the item is a plain function without parameters,
//! and only its last token (the body) and its return type are needed.

use proc_macro::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};

/// Marks a test function whose pass the lab's harness records on `Ok`
/// (or on return, for a test that returns `()`); see the crate's docs.
#[proc_macro_attribute]
pub fn test(attribute: TokenStream, item: TokenStream) -> TokenStream {
    if !attribute.is_empty() {
        return error("#[bfd_lab::test] takes no arguments", Span::call_site());
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let body = match tokens.pop() {
        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => group,
        Some(other) => return error("#[bfd_lab::test] goes on a function with a body", other.span()),
        None => return error("#[bfd_lab::test] goes on a function", Span::call_site()),
    };
    // The return type: what follows `->` up to the body (tests have no
    // `where` clauses).
    let arrow = tokens.windows(2).position(|pair| {
        matches!((&pair[0], &pair[1]), (TokenTree::Punct(minus), TokenTree::Punct(greater))
            if minus.as_char() == '-' && greater.as_char() == '>')
    });
    let return_type: Vec<TokenTree> = arrow.map(|at| tokens[at + 2..].to_vec()).unwrap_or_default();

    // ::bfd_lab::harness::run(move || -> RETURN BODY)
    let mut closure: Vec<TokenTree> = vec![
        Ident::new("move", Span::call_site()).into(),
        Punct::new('|', Spacing::Joint).into(),
        Punct::new('|', Spacing::Alone).into(),
    ];
    // `-> ()` when the test returns nothing: a body that ends in a panic
    // would otherwise make the closure return `!`.
    closure.push(Punct::new('-', Spacing::Joint).into());
    closure.push(Punct::new('>', Spacing::Alone).into());
    if return_type.is_empty() {
        closure.push(Group::new(Delimiter::Parenthesis, TokenStream::new()).into());
    } else {
        closure.extend(return_type);
    }
    closure.push(TokenTree::Group(body.clone()));
    let mut call: Vec<TokenTree> = Vec::new();
    for segment in ["bfd_lab", "harness", "run"] {
        call.push(Punct::new(':', Spacing::Joint).into());
        call.push(Punct::new(':', Spacing::Alone).into());
        call.push(Ident::new(segment, Span::call_site()).into());
    }
    call.push(Group::new(Delimiter::Parenthesis, closure.into_iter().collect()).into());
    let mut new_body = Group::new(Delimiter::Brace, call.into_iter().collect());
    new_body.set_span(body.span());

    let mut output: Vec<TokenTree> = vec![
        Punct::new('#', Spacing::Alone).into(),
        Group::new(Delimiter::Bracket, TokenTree::from(Ident::new("test", Span::call_site())).into()).into(),
    ];
    output.extend(tokens);
    output.push(new_body.into());
    output.into_iter().collect()
}

/// `compile_error!("message")` at `span`.
fn error(message: &str, span: Span) -> TokenStream {
    let mut literal = proc_macro::Literal::string(message);
    literal.set_span(span);
    let tokens: Vec<TokenTree> = vec![
        Ident::new("compile_error", span).into(),
        Punct::new('!', Spacing::Alone).into(),
        Group::new(Delimiter::Parenthesis, TokenTree::from(literal).into()).into(),
        Punct::new(';', Spacing::Alone).into(),
    ];
    tokens.into_iter().collect()
}
