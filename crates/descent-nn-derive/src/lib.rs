//! `#[derive(Module)]`: [`Visit`] (parameters and buffers by field path) and `Params` (what
//! optimizers take) for a model struct of descent-nn, written from its fields.
//!
//! Each field is visited below `prefix.<field name>` (a tuple struct's below `prefix.0`, ...),
//! so field names become PyTorch `state_dict` paths (`encoder.0.weight`). A field marked
//! `#[module(skip)]` is not visited. The generated code names descent-nn by the path
//! `::descent_nn`, or `::descent::nn` when the crate using the derive depends on the `descent`
//! facade and not on `descent-nn` itself; `#[module(crate = "path")]` on the struct overrides it.
//!
//! Documented and tested in descent-nn (`descent_nn::Module`).
//!
//! [`Visit`]: https://docs.rs/descent-nn/latest/descent_nn/trait.Visit.html

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{Data, DeriveInput, Fields, parse_macro_input, parse_quote};

/// Implements `Visit` and `Params` for a struct from its fields; see the crate docs.
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// What a `#[module(..)]` attribute says.
#[derive(Default)]
struct ModuleAttr {
    skip: bool,
    krate: Option<syn::Path>,
}

fn module_attr(attrs: &[syn::Attribute]) -> syn::Result<ModuleAttr> {
    let mut out = ModuleAttr::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                out.skip = true;
                Ok(())
            } else if meta.path.is_ident("crate") {
                let s: syn::LitStr = meta.value()?.parse()?;
                out.krate = Some(s.parse()?);
                Ok(())
            } else {
                Err(meta.error("expected `skip` or `crate = \"path\"`"))
            }
        })?;
    }
    Ok(out)
}

/// `::descent_nn`, or `::descent::nn` for a crate that depends on the facade only.
fn default_crate_path() -> syn::Path {
    let name = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    if name == "descent-nn" {
        return parse_quote!(::descent_nn);
    }
    if name == "descent" {
        return parse_quote!(::descent::nn);
    }
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .ok()
        .and_then(|dir| std::fs::read_to_string(std::path::Path::new(&dir).join("Cargo.toml")).ok())
        .unwrap_or_default();
    let depends_on = |krate: &str| {
        manifest.lines().any(|line| {
            let line = line.trim();
            line.starts_with(&format!("{krate} "))
                || line.starts_with(&format!("{krate}="))
                || line.starts_with(&format!("{krate}."))
                || line.ends_with(&format!("dependencies.{krate}]"))
        })
    };
    if !depends_on("descent-nn") && depends_on("descent") {
        parse_quote!(::descent::nn)
    } else {
        parse_quote!(::descent_nn)
    }
}

fn expand(input: DeriveInput) -> syn::Result<TokenStream2> {
    let krate = module_attr(&input.attrs)?
        .krate
        .unwrap_or_else(default_crate_path);
    let fields = match &input.data {
        Data::Struct(s) => &s.fields,
        _ => {
            return Err(syn::Error::new_spanned(
                &input.ident,
                "#[derive(Module)] works on structs; implement `Visit` by hand for an enum",
            ));
        }
    };
    let mut members = Vec::new();
    let mut types = Vec::new();
    let named: Vec<(syn::Member, String, &syn::Type, &[syn::Attribute])> = match fields {
        Fields::Named(f) => f
            .named
            .iter()
            .map(|f| {
                let ident = f.ident.clone().expect("named field");
                let name = ident.to_string();
                let name = name.strip_prefix("r#").unwrap_or(&name).to_string();
                (syn::Member::Named(ident), name, &f.ty, &f.attrs[..])
            })
            .collect(),
        Fields::Unnamed(f) => f
            .unnamed
            .iter()
            .enumerate()
            .map(|(i, f)| (syn::Member::from(i), i.to_string(), &f.ty, &f.attrs[..]))
            .collect(),
        Fields::Unit => Vec::new(),
    };
    let mut paths = Vec::new();
    for (member, name, ty, attrs) in named {
        if module_attr(attrs)?.skip {
            continue;
        }
        members.push(member);
        paths.push(name);
        types.push(ty.clone());
    }

    let ident = &input.ident;
    let mut generics = input.generics.clone();
    {
        let where_clause = generics.make_where_clause();
        for ty in &types {
            where_clause
                .predicates
                .push(parse_quote!(#ty: #krate::Visit));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let lt = syn::Lifetime::new("'__descent_a", proc_macro2::Span::call_site());

    Ok(quote! {
        impl #impl_generics #krate::Visit for #ident #ty_generics #where_clause {
            fn visit_params<#lt>(
                &#lt self,
                prefix: &str,
                f: &mut dyn FnMut(&str, &#lt #krate::__private::Param),
            ) {
                #( #krate::with_module_path(prefix, #paths, |p| #krate::Visit::visit_params(&self.#members, p, f)); )*
            }

            fn visit_params_mut(
                &mut self,
                prefix: &str,
                f: &mut dyn FnMut(&str, &mut #krate::__private::Param),
            ) {
                #( #krate::with_module_path(prefix, #paths, |p| #krate::Visit::visit_params_mut(&mut self.#members, p, f)); )*
            }

            fn visit_buffers<#lt>(
                &#lt self,
                prefix: &str,
                f: &mut dyn FnMut(&str, &#lt #krate::Buffer),
            ) {
                #( #krate::with_module_path(prefix, #paths, |p| #krate::Visit::visit_buffers(&self.#members, p, f)); )*
            }
        }

        impl #impl_generics #krate::__private::Params for #ident #ty_generics #where_clause {
            fn visit(&self, f: &mut dyn FnMut(&#krate::__private::Param)) {
                #krate::Visit::visit_params(self, "", &mut |_, p| f(p))
            }

            fn visit_named(&self, f: &mut dyn FnMut(&str, &#krate::__private::Param)) {
                #krate::Visit::visit_params(self, "", &mut |n, p| f(n, p))
            }

            fn visit_mut(&mut self, f: &mut dyn FnMut(&mut #krate::__private::Param)) {
                #krate::Visit::visit_params_mut(self, "", &mut |_, p| f(p))
            }
        }
    })
}
