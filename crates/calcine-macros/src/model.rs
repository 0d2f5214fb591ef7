//! The expansion of `#[derive(Model)]`: attribute parsing, type inference and code generation.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, Lit, LitStr, PathArguments, Type};

type Result<T> = syn::Result<T>;

/// Struct-level `#[calcine(...)]` settings.
struct ContainerAttrs {
    table: Option<LitStr>,
    krate: Option<syn::Path>,
}

/// One field and its `#[calcine(...)]` settings.
struct FieldSpec {
    ident: Ident,
    column: String,
    /// The field type with any `Option<...>` stripped.
    inner: TokenStream,
    /// The field type's span, for type errors in the generated code.
    ty_span: Span,
    optional: bool,
    skip: bool,
    primary_key: bool,
    sql_type: Option<TokenStream>,
    nullable: Option<bool>,
    autoincrement: Option<bool>,
    default: Option<TokenStream>,
    server_default: Option<LitStr>,
    unique: bool,
    index: bool,
    foreign_key: Option<(String, String)>,
    on_delete: Option<(TokenStream, Span)>,
    on_update: Option<(TokenStream, Span)>,
}

pub(crate) fn expand(input: &DeriveInput) -> Result<TokenStream> {
    let name = &input.ident;
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Model)] does not support generic structs: a mapped model is one concrete \
             type with one table",
        ));
    }
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => &named.named,
            _ => {
                return Err(syn::Error::new_spanned(
                    &s.fields,
                    "#[derive(Model)] needs a struct with named fields",
                ));
            }
        },
        Data::Enum(e) => {
            return Err(syn::Error::new(
                e.enum_token.span,
                "#[derive(Model)] needs a struct with named fields, not an enum",
            ));
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                "#[derive(Model)] needs a struct with named fields, not a union",
            ));
        }
    };

    let container = parse_container_attrs(input)?;
    let table_name = match &container.table {
        Some(t) => t.value(),
        None => format!("{}s", snake_case(&unraw(name))),
    };
    let krate = match container.krate {
        Some(p) => quote!(#p),
        None => quote!(::calcine::orm),
    };
    let p = quote!(#krate::__private);

    let mut specs = Vec::with_capacity(fields.len());
    let mut errors: Option<syn::Error> = None;
    for field in fields {
        match parse_field(field) {
            Ok(spec) => specs.push(spec),
            Err(e) => combine(&mut errors, e),
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }

    let columns: Vec<&FieldSpec> = specs.iter().filter(|s| !s.skip).collect();
    for (i, c) in columns.iter().enumerate() {
        if let Some(prev) = columns[..i].iter().find(|o| o.column == c.column) {
            return Err(syn::Error::new(
                c.ident.span(),
                format!(
                    "column {:?} is mapped twice (also by field `{}`)",
                    c.column,
                    unraw(&prev.ident)
                ),
            ));
        }
    }
    if !columns.iter().any(|c| c.primary_key) {
        return Err(syn::Error::new(
            name.span(),
            format!(
                "#[derive(Model)] on `{name}` needs a primary key: mark at least one field \
                 #[calcine(primary_key)]"
            ),
        ));
    }

    let column_defs = columns.iter().map(|c| column_def(c, &p));
    let name_str = unraw(name);

    let getters = columns.iter().enumerate().map(|(i, c)| {
        let ident = &c.ident;
        let pp = respan(&p, c.ty_span);
        quote_spanned!(c.ty_span=> #i => #pp::Value::from(::core::clone::Clone::clone(&self.#ident)))
    });
    let setters = columns.iter().enumerate().map(|(i, c)| {
        let ident = &c.ident;
        let pp = respan(&p, c.ty_span);
        quote_spanned!(c.ty_span=> #i => self.#ident = #pp::FromValue::from_value(value)?)
    });
    let to_values = columns.iter().map(|c| {
        let ident = &c.ident;
        let pp = respan(&p, c.ty_span);
        quote_spanned!(c.ty_span=> #pp::Value::from(::core::clone::Clone::clone(&self.#ident)))
    });
    let mut column_index = 0usize;
    let inits = specs.iter().map(|s| {
        let ident = &s.ident;
        if s.skip {
            quote_spanned!(s.ty_span=> #ident: ::core::default::Default::default())
        } else {
            let i = column_index;
            column_index += 1;
            let pp = respan(&p, s.ty_span);
            quote_spanned! {s.ty_span=>
                #ident: #pp::FromValue::from_value(
                    ::core::iter::Iterator::next(&mut values).unwrap_or(#pp::Value::Null),
                )
                .map_err(|e| (#i, e))?
            }
        }
    });
    let vis = &input.vis;
    let consts = columns.iter().enumerate().map(|(i, c)| {
        let const_name = format_ident!(
            "{}",
            snake_case(&unraw(&c.ident)).to_uppercase(),
            span = c.ident.span()
        );
        let inner = &c.inner;
        let column = &c.column;
        let doc = format!("Column `{column}` of `{table_name}`.");
        let kk = respan(&krate, c.ty_span);
        quote_spanned! {c.ty_span=>
            #[doc = #doc]
            #vis const #const_name: #kk::Col<#name, #inner> = #kk::Col::new(#i, #column);
        }
    });
    let ncols = columns.len();

    Ok(quote! {
        impl #krate::Model for #name {
            fn mapper() -> &'static #krate::Mapper {
                static MAPPER: #p::OnceLock<#krate::Mapper> = #p::OnceLock::new();
                MAPPER.get_or_init(|| {
                    let table = #p::Table::new(#table_name) #(.column(#column_defs))*;
                    match #krate::Mapper::new(#name_str, table) {
                        ::core::result::Result::Ok(mapper) => mapper,
                        ::core::result::Result::Err(e) => ::core::panic!(
                            "invalid #[derive(Model)] definition of {}: {}", #name_str, e
                        ),
                    }
                })
            }

            fn column_value(&self, index: usize) -> #p::Value {
                match index {
                    #(#getters,)*
                    _ => #p::Value::Null,
                }
            }

            fn set_column_value(
                &mut self,
                index: usize,
                value: #p::Value,
            ) -> ::core::result::Result<(), #p::ValueError> {
                match index {
                    #(#setters,)*
                    _ => {
                        return ::core::result::Result::Err(#p::ValueError::out_of_range(
                            "a column index",
                            &value,
                            ::std::format!("{} has {} columns, not {}", #name_str, #ncols, index + 1),
                        ));
                    }
                }
                ::core::result::Result::Ok(())
            }

            fn from_values(
                values: ::std::vec::Vec<#p::Value>,
            ) -> ::core::result::Result<Self, (usize, #p::ValueError)> {
                let mut values = ::core::iter::IntoIterator::into_iter(values);
                ::core::result::Result::Ok(#name {
                    #(#inits,)*
                })
            }

            fn to_values(&self) -> ::std::vec::Vec<#p::Value> {
                ::std::vec![#(#to_values),*]
            }
        }

        // Column handles are a query API: unused ones are no reason to warn.
        #[allow(dead_code)]
        impl #name {
            #(#consts)*
        }
    })
}

/// `tokens` with every span set to `span`, so an error in generated code points at one place.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(&g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

fn combine(acc: &mut Option<syn::Error>, e: syn::Error) {
    match acc {
        Some(a) => a.combine(e),
        None => *acc = Some(e),
    }
}

fn parse_container_attrs(input: &DeriveInput) -> Result<ContainerAttrs> {
    let mut attrs = ContainerAttrs {
        table: None,
        krate: None,
    };
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("calcine")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("table") {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(lit.span(), "the table name is empty"));
                }
                set_once(&meta, &mut attrs.table, lit)
            } else if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                let path: syn::Path = lit.parse()?;
                set_once(&meta, &mut attrs.krate, path)
            } else {
                Err(meta.error(format!(
                    "unknown #[calcine] struct attribute `{}`; expected `table` or `crate`{}",
                    path_str(&meta.path),
                    if FIELD_KEYS.iter().any(|k| meta.path.is_ident(k)) {
                        " (it is a field attribute)"
                    } else {
                        ""
                    }
                )))
            }
        })?;
    }
    Ok(attrs)
}

const FIELD_KEYS: &[&str] = &[
    "primary_key",
    "column",
    "sql_type",
    "nullable",
    "autoincrement",
    "default",
    "server_default",
    "unique",
    "index",
    "foreign_key",
    "on_delete",
    "on_update",
    "skip",
];

fn set_once<T>(meta: &ParseNestedMeta<'_>, slot: &mut Option<T>, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!(
            "`{}` is given more than once",
            path_str(&meta.path)
        )));
    }
    *slot = Some(value);
    Ok(())
}

fn set_flag(meta: &ParseNestedMeta<'_>, flag: &mut bool) -> Result<()> {
    if *flag {
        return Err(meta.error(format!(
            "`{}` is given more than once",
            path_str(&meta.path)
        )));
    }
    *flag = true;
    Ok(())
}

fn path_str(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| unraw(&s.ident))
        .collect::<Vec<_>>()
        .join("::")
}

/// `key` alone means `true`; `key = bool` sets it explicitly.
fn optional_bool(meta: &ParseNestedMeta<'_>) -> Result<bool> {
    if meta.input.peek(syn::Token![=]) {
        let lit: syn::LitBool = meta.value()?.parse()?;
        Ok(lit.value)
    } else {
        Ok(true)
    }
}

fn parse_field(field: &syn::Field) -> Result<FieldSpec> {
    let Some(ident) = field.ident.clone() else {
        return Err(syn::Error::new_spanned(field, "expected a named field"));
    };
    let (inner_ty, optional) = match option_inner(&field.ty) {
        Some(t) => (t, true),
        None => (&field.ty, false),
    };
    let inner = quote!(#inner_ty);
    let mut column: Option<LitStr> = None;
    let mut skip = false;
    let mut other_key = None;
    let mut primary_key = false;
    let mut sql_type = None;
    let mut nullable = None;
    let mut autoincrement = None;
    let mut default = None;
    let mut server_default = None;
    let mut unique = false;
    let mut index = false;
    let mut foreign_key = None;
    let mut on_delete = None;
    let mut on_update = None;

    for attr in field.attrs.iter().filter(|a| a.path().is_ident("calcine")) {
        attr.parse_nested_meta(|meta| {
            let key_span = meta.path.span();
            if meta.path.is_ident("skip") {
                return set_flag(&meta, &mut skip);
            }
            other_key.get_or_insert((path_str(&meta.path), key_span));
            if meta.path.is_ident("primary_key") {
                set_flag(&meta, &mut primary_key)
            } else if meta.path.is_ident("column") {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(lit.span(), "the column name is empty"));
                }
                set_once(&meta, &mut column, lit)
            } else if meta.path.is_ident("sql_type") {
                let lit: LitStr = meta.value()?.parse()?;
                let ty = parse_sql_type(&lit)?;
                set_once(&meta, &mut sql_type, ty)
            } else if meta.path.is_ident("nullable") {
                let v = optional_bool(&meta)?;
                set_once(&meta, &mut nullable, v)
            } else if meta.path.is_ident("autoincrement") {
                let v = optional_bool(&meta)?;
                set_once(&meta, &mut autoincrement, v)
            } else if meta.path.is_ident("default") {
                let v = parse_default(&meta)?;
                set_once(&meta, &mut default, v)
            } else if meta.path.is_ident("server_default") {
                let lit: LitStr = meta.value()?.parse()?;
                set_once(&meta, &mut server_default, lit)
            } else if meta.path.is_ident("unique") {
                set_flag(&meta, &mut unique)
            } else if meta.path.is_ident("index") {
                set_flag(&meta, &mut index)
            } else if meta.path.is_ident("foreign_key") {
                let lit: LitStr = meta.value()?.parse()?;
                let target = parse_foreign_key(&lit)?;
                set_once(&meta, &mut foreign_key, target)
            } else if meta.path.is_ident("on_delete") {
                let lit: LitStr = meta.value()?.parse()?;
                let action = parse_action(&lit)?;
                set_once(&meta, &mut on_delete, (action, key_span))
            } else if meta.path.is_ident("on_update") {
                let lit: LitStr = meta.value()?.parse()?;
                let action = parse_action(&lit)?;
                set_once(&meta, &mut on_update, (action, key_span))
            } else {
                Err(meta.error(format!(
                    "unknown #[calcine] field attribute `{}`; expected one of: {}",
                    path_str(&meta.path),
                    FIELD_KEYS.join(", ")
                )))
            }
        })?;
    }

    if skip {
        if let Some((key, span)) = other_key {
            return Err(syn::Error::new(
                span,
                format!("`{key}` has no effect on a `skip` field (it is not a column)"),
            ));
        }
    } else {
        for (action, key) in [(&on_delete, "on_delete"), (&on_update, "on_update")] {
            if let (Some((_, span)), None) = (action, &foreign_key) {
                return Err(syn::Error::new(
                    *span,
                    format!("`{key}` needs a `foreign_key = \"table.column\"` on the same field"),
                ));
            }
        }
        if sql_type.is_none() {
            sql_type = infer_sql_type(inner_ty);
            if sql_type.is_none() {
                return Err(syn::Error::new_spanned(
                    &field.ty,
                    "cannot infer the SQL type of this field; add \
                     #[calcine(sql_type = \"...\")] (integer, bigint, smallint, float, double, \
                     numeric(P, S), text, varchar(N), boolean, bytes, date, time, timestamp, \
                     timestamptz, uuid, json) or #[calcine(skip)]",
                ));
            }
        }
    }
    Ok(FieldSpec {
        column: column.map_or_else(|| unraw(&ident), |c| c.value()),
        ident,
        inner,
        ty_span: field.ty.span(),
        optional,
        skip,
        primary_key,
        sql_type,
        nullable,
        autoincrement,
        default,
        server_default,
        unique,
        index,
        foreign_key,
        on_delete,
        on_update,
    })
}

fn column_def(c: &FieldSpec, p: &TokenStream) -> TokenStream {
    let name = &c.column;
    let ty = c.sql_type.clone().unwrap_or_else(|| quote!(Text));
    let mut def = quote!(#p::Column::new(#name, #p::SqlType::#ty));
    if c.primary_key {
        def.extend(quote!(.primary_key()));
    }
    match c.nullable {
        Some(b) => def.extend(quote!(.nullable(#b))),
        None if !c.primary_key && !c.optional => def.extend(quote!(.not_null())),
        None => {}
    }
    if let Some(b) = c.autoincrement {
        def.extend(quote!(.autoincrement(#b)));
    }
    if let Some(d) = &c.default {
        def.extend(quote!(.default(#d)));
    }
    if let Some(s) = &c.server_default {
        def.extend(quote!(.server_default(#s)));
    }
    if c.unique {
        def.extend(quote!(.unique()));
    }
    if c.index {
        def.extend(quote!(.index()));
    }
    if let Some((table, column)) = &c.foreign_key {
        let mut fk = quote!(#p::ForeignKey::new(#table, #column));
        if let Some((a, _)) = &c.on_delete {
            fk.extend(quote!(.on_delete(#p::ReferentialAction::#a)));
        }
        if let Some((a, _)) = &c.on_update {
            fk.extend(quote!(.on_update(#p::ReferentialAction::#a)));
        }
        def.extend(quote!(.foreign_key(#fk)));
    }
    def
}

/// `default = 0`, `default = -1.5`, `default = true`, `default = "draft"`.
fn parse_default(meta: &ParseNestedMeta<'_>) -> Result<TokenStream> {
    let input = meta.value()?;
    let neg: Option<syn::Token![-]> = input.parse()?;
    let lit: Lit = input.parse()?;
    let ok = match &lit {
        Lit::Int(_) | Lit::Float(_) => true,
        Lit::Bool(_) | Lit::Str(_) => neg.is_none(),
        _ => false,
    };
    if !ok {
        return Err(syn::Error::new(
            lit.span(),
            "`default` takes an integer, float, bool or string literal",
        ));
    }
    Ok(quote_spanned!(lit.span()=> #neg #lit))
}

fn parse_foreign_key(lit: &LitStr) -> Result<(String, String)> {
    let v = lit.value();
    let parts: Vec<&str> = v.split('.').collect();
    match parts[..] {
        [table, column] if !table.is_empty() && !column.is_empty() => {
            Ok((table.to_owned(), column.to_owned()))
        }
        _ => Err(syn::Error::new(
            lit.span(),
            format!("`foreign_key` must be \"table.column\" (e.g. \"users.id\"), not {v:?}"),
        )),
    }
}

fn parse_action(lit: &LitStr) -> Result<TokenStream> {
    let v = lit.value();
    let norm = v
        .trim()
        .to_ascii_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let variant = match norm.as_str() {
        "cascade" => "Cascade",
        "set null" => "SetNull",
        "set default" => "SetDefault",
        "restrict" => "Restrict",
        "no action" => "NoAction",
        _ => {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown referential action {v:?}; expected \"cascade\", \"set null\", \
                     \"set default\", \"restrict\" or \"no action\""
                ),
            ));
        }
    };
    let ident = Ident::new(variant, lit.span());
    Ok(quote!(#ident))
}

/// The `SqlType` variant (with arguments) named by a `sql_type = "..."` string.
fn parse_sql_type(lit: &LitStr) -> Result<TokenStream> {
    let raw = lit.value();
    let v = raw.trim().to_ascii_lowercase().replace(' ', "");
    let simple = match v.as_str() {
        "smallint" | "int2" => Some("SmallInt"),
        "integer" | "int" | "int4" => Some("Integer"),
        "bigint" | "int8" => Some("BigInt"),
        "float" | "real" | "float4" => Some("Float"),
        "double" | "doubleprecision" | "float8" => Some("Double"),
        "text" => Some("Text"),
        "boolean" | "bool" => Some("Boolean"),
        "bytes" | "blob" | "bytea" => Some("Bytes"),
        "date" => Some("Date"),
        "time" => Some("Time"),
        "timestamp" => Some("Timestamp"),
        "timestamptz" => Some("TimestampTz"),
        "uuid" => Some("Uuid"),
        "json" | "jsonb" => Some("Json"),
        _ => None,
    };
    if let Some(s) = simple {
        let ident = Ident::new(s, lit.span());
        return Ok(quote!(#ident));
    }
    let bad = || {
        syn::Error::new(
            lit.span(),
            format!(
                "unknown sql_type {raw:?}; expected one of: integer, bigint, smallint, float, \
                 double, numeric(P, S), text, varchar(N), boolean, bytes (blob, bytea), date, \
                 time, timestamp, timestamptz, uuid, json"
            ),
        )
    };
    let args = |prefix: &str| -> Option<Vec<u32>> {
        let rest = v
            .strip_prefix(prefix)?
            .strip_prefix('(')?
            .strip_suffix(')')?;
        rest.split(',').map(|n| n.parse::<u32>().ok()).collect()
    };
    if let Some(a) = args("varchar") {
        if let [n] = a[..] {
            return Ok(quote!(Varchar(#n)));
        }
        return Err(bad());
    }
    if let Some(a) = args("numeric").or_else(|| args("decimal")) {
        return match a[..] {
            [p, s] if s <= p => Ok(quote!(Numeric(#p, #s))),
            [p] => Ok(quote!(Numeric(#p, 0u32))),
            _ => Err(bad()),
        };
    }
    Err(bad())
}

fn strip_group(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => strip_group(&g.elem),
        Type::Paren(p) => strip_group(&p.elem),
        t => t,
    }
}

/// `T` when `ty` is `Option<T>` (by its last path segment).
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(tp) = strip_group(ty) else {
        return None;
    };
    if tp.qself.is_some() {
        return None;
    }
    let last = tp.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    single_type_arg(&last.arguments)
}

fn single_type_arg(args: &PathArguments) -> Option<&Type> {
    let PathArguments::AngleBracketed(ab) = args else {
        return None;
    };
    match ab.args.iter().collect::<Vec<_>>()[..] {
        [GenericArgument::Type(t)] => Some(t),
        _ => None,
    }
}

/// The `SqlType` variant for a Rust type, by its last path segment.
fn infer_sql_type(ty: &Type) -> Option<TokenStream> {
    let Type::Path(tp) = strip_group(ty) else {
        return None;
    };
    if tp.qself.is_some() {
        return None;
    }
    let segments: Vec<_> = tp.path.segments.iter().collect();
    let last = segments.last()?;
    let name = last.ident.to_string();
    let variant = match name.as_str() {
        "i64" | "u32" => "BigInt",
        "i32" | "u16" => "Integer",
        "i16" | "i8" | "u8" => "SmallInt",
        "f64" => "Double",
        "f32" => "Float",
        "bool" => "Boolean",
        "String" => "Text",
        "Vec" => {
            let arg = single_type_arg(&last.arguments)?;
            let Type::Path(a) = strip_group(arg) else {
                return None;
            };
            if !a.path.is_ident("u8") {
                return None;
            }
            "Bytes"
        }
        "NaiveDate" => "Date",
        "NaiveTime" => "Time",
        "NaiveDateTime" => "Timestamp",
        "DateTime" => "TimestampTz",
        "Uuid" => "Uuid",
        "Json" => "Json",
        // `serde_json::Value` (or a bare `Value` imported from it), not `calcine_sql::Value`.
        "Value" => match &segments[..] {
            [_] => "Json",
            [.., prev, _] if prev.ident == "serde_json" => "Json",
            _ => return None,
        },
        _ => return None,
    };
    let ident = Ident::new(variant, Span::call_site());
    Some(quote!(#ident))
}

fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    match s.strip_prefix("r#") {
        Some(rest) => rest.to_owned(),
        None => s,
    }
}

/// `BlogPost` → `blog_post`, `HTTPRequest` → `http_request`, `snake_case` unchanged.
fn snake_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(char::is_lowercase),
                Some(_) => false,
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{expand, snake_case};

    /// The error message `#[derive(Model)]` gives for `src`.
    fn error(src: &str) -> String {
        let input: syn::DeriveInput = match syn::parse_str(src) {
            Ok(i) => i,
            Err(e) => panic!("test input does not parse: {e}"),
        };
        match expand(&input) {
            Ok(_) => panic!("expected an error for {src}"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_error(src: &str, expected: &str) {
        let msg = error(src);
        assert!(
            msg.contains(expected),
            "{msg:?} does not contain {expected:?}"
        );
    }

    #[test]
    fn expands() {
        let input: syn::DeriveInput = match syn::parse_str(
            "#[calcine(table = \"t\", crate = \"calcine_orm\")] struct T { \
             #[calcine(primary_key)] id: i64, #[calcine(skip)] s: Vec<String> }",
        ) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        };
        let out = match expand(&input) {
            Ok(out) => out.to_string(),
            Err(e) => panic!("{e}"),
        };
        assert!(out.contains("impl calcine_orm :: Model for T"), "{out}");
        assert!(
            out.contains("const ID : calcine_orm :: Col < T , i64 >"),
            "{out}"
        );
        assert!(!out.contains("const S"), "{out}");
    }

    #[test]
    fn errors() {
        assert_error("struct T(i64);", "needs a struct with named fields");
        assert_error("enum T { A }", "not an enum");
        assert_error(
            "struct T<X> { #[calcine(primary_key)] id: X }",
            "does not support generic structs",
        );
        assert_error("struct T { id: i64 }", "needs a primary key");
        assert_error(
            "struct T { #[calcine(skip, primary_key)] id: i64 }",
            "has no effect on a `skip` field",
        );
        assert_error(
            "#[calcine(tabel = \"t\")] struct T { #[calcine(primary_key)] id: i64 }",
            "unknown #[calcine] struct attribute `tabel`",
        );
        assert_error(
            "#[calcine(unique)] struct T { #[calcine(primary_key)] id: i64 }",
            "(it is a field attribute)",
        );
        assert_error(
            "struct T { #[calcine(primary_key, uniq)] id: i64 }",
            "unknown #[calcine] field attribute `uniq`",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(foreign_key = \"users\")] u: i64 }",
            "`foreign_key` must be \"table.column\"",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(foreign_key = \"a.b.c\")] u: i64 }",
            "`foreign_key` must be \"table.column\"",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, \
             #[calcine(foreign_key = \"users.id\", on_delete = \"explode\")] u: i64 }",
            "unknown referential action \"explode\"",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(on_delete = \"cascade\")] u: i64 }",
            "`on_delete` needs a `foreign_key",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(sql_type = \"varchar\")] u: String }",
            "unknown sql_type \"varchar\"",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(sql_type = \"money\")] u: String }",
            "unknown sql_type \"money\"",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, u: std::collections::HashMap<u8, u8> }",
            "cannot infer the SQL type of this field",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(default = b'x')] u: u8 }",
            "`default` takes an integer, float, bool or string literal",
        );
        assert_error(
            "struct T { #[calcine(primary_key, unique, unique)] id: i64 }",
            "`unique` is given more than once",
        );
        assert_error(
            "struct T { #[calcine(primary_key)] id: i64, #[calcine(column = \"id\")] other: i64 }",
            "column \"id\" is mapped twice",
        );
    }

    #[test]
    fn sql_types() {
        let parse = |s: &str| {
            let lit = syn::LitStr::new(s, proc_macro2::Span::call_site());
            super::parse_sql_type(&lit).map(|t| t.to_string()).ok()
        };
        assert_eq!(parse("VARCHAR(50)").as_deref(), Some("Varchar (50u32)"));
        assert_eq!(
            parse("numeric(10, 2)").as_deref(),
            Some("Numeric (10u32 , 2u32)")
        );
        assert_eq!(parse("Double Precision").as_deref(), Some("Double"));
        assert_eq!(parse("blob").as_deref(), Some("Bytes"));
        assert_eq!(parse("numeric(2, 10)"), None);
        assert_eq!(parse("varchar(x)"), None);
    }

    #[test]
    fn snake() {
        assert_eq!(snake_case("User"), "user");
        assert_eq!(snake_case("BlogPost"), "blog_post");
        assert_eq!(snake_case("HTTPRequest"), "http_request");
        assert_eq!(snake_case("Order2Item"), "order2_item");
        assert_eq!(snake_case("manager_id"), "manager_id");
        assert_eq!(snake_case("createdAt"), "created_at");
    }
}
