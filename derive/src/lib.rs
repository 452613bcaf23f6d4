//! `#[derive(Module)]`: the `nn::layers::Module` plumbing of a composite model written once.
//!
//! A model is a struct whose fields are its layers. The derive implements `Module` for it:
//! `parameters`, `parameters_mut`, `buffers`, `buffers_mut`, `set_training` and `is_training`
//! forward to every field
//! marked `#[module]` (a layer, a `Sequential`, another derived model) with the field's name as
//! the prefix (`conv1.w`), and to every `#[param]` field (a `Param`) under its own name; the
//! forward pass is the struct's own inherent method `forward` (or the one `#[module(forward =
//! name)]` names), written in plain Rust. Other fields are left alone. A struct generic over
//! an element type `T` gets `impl<T: Element> Module<T>`; otherwise `Module<f32>`, or the type
//! `#[module(element = f64)]` names. See the rustdoc of `nn::layers::Module` for an example.

use proc_macro::TokenStream;
use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, Ident, Type, parse_macro_input};

/// Implements `nn::layers::Module` for a struct of layers; see the crate documentation.
#[proc_macro_derive(Module, attributes(module, param))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input).unwrap_or_else(|e| e.to_compile_error()).into()
}

fn nn_path() -> Tokens {
    match crate_name("nn") {
        // `nn`'s own integration tests and doc tests are other crates that depend on it.
        Ok(FoundCrate::Itself) => quote!(::nn),
        Ok(FoundCrate::Name(n)) => {
            let n = Ident::new(&n, Span::call_site());
            quote!(::#n)
        }
        Err(_) => match crate_name("tapegrad") {
            Ok(FoundCrate::Name(n)) => {
                let n = Ident::new(&n, Span::call_site());
                quote!(::#n::nn)
            }
            _ => quote!(::tapegrad::nn),
        },
    }
}

/// What `#[module(..)]` on the struct says.
struct Options {
    forward: Ident,
    element: Option<Type>,
}

fn options(input: &DeriveInput) -> syn::Result<Options> {
    let mut o = Options {
        forward: format_ident!("forward"),
        element: None,
    };
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("forward") {
                o.forward = meta.value()?.parse()?;
                Ok(())
            } else if meta.path.is_ident("element") {
                o.element = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("expected `forward = method` or `element = type`"))
            }
        })?;
    }
    Ok(o)
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let nn = nn_path();
    let opts = options(input)?;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            input,
            "#[derive(Module)] needs a struct of layers",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            input,
            "#[derive(Module)] needs named fields (their names prefix the parameters)",
        ));
    };
    let (mut modules, mut params) = (Vec::new(), Vec::new());
    for f in &fields.named {
        let name = f.ident.clone().expect("named field");
        if f.attrs.iter().any(|a| a.path().is_ident("module")) {
            modules.push(name);
        } else if f.attrs.iter().any(|a| a.path().is_ident("param")) {
            params.push(name);
        }
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    // The element type: the struct's first type parameter, else the attribute's, else f32.
    let element: Tokens = match (&opts.element, input.generics.type_params().next()) {
        (Some(t), _) => quote!(#t),
        (None, Some(p)) => {
            let p = &p.ident;
            quote!(#p)
        }
        (None, None) => quote!(f32),
    };
    let forward = &opts.forward;
    let module_names: Vec<String> = modules.iter().map(|m| m.to_string()).collect();
    let param_names: Vec<String> = params.iter().map(|p| p.to_string()).collect();
    Ok(quote! {
        impl #impl_generics #nn::layers::Module<#element> for #ident #ty_generics #where_clause {
            fn forward<'t>(&self, x: &#nn::autograd::Var<'t, #element>)
                -> #nn::autograd::Result<#nn::autograd::Var<'t, #element>> {
                #ident::#forward(self, x)
            }

            fn parameters(&self) -> ::std::vec::Vec<(::std::string::String, &#nn::autograd::Param<#element>)> {
                let mut out = ::std::vec::Vec::new();
                #( out.push((::std::string::String::from(#param_names), &self.#params)); )*
                #(
                    for (n, p) in #nn::layers::Module::<#element>::parameters(&self.#modules) {
                        out.push((::std::format!("{}.{}", #module_names, n), p));
                    }
                )*
                out
            }

            fn parameters_mut(&mut self) -> ::std::vec::Vec<(::std::string::String, &mut #nn::autograd::Param<#element>)> {
                let mut out = ::std::vec::Vec::new();
                #( out.push((::std::string::String::from(#param_names), &mut self.#params)); )*
                #(
                    for (n, p) in #nn::layers::Module::<#element>::parameters_mut(&mut self.#modules) {
                        out.push((::std::format!("{}.{}", #module_names, n), p));
                    }
                )*
                out
            }

            fn buffers(&self) -> ::std::vec::Vec<(::std::string::String, &#nn::autograd::Tensor<#element>)> {
                let mut out = ::std::vec::Vec::new();
                #(
                    for (n, b) in #nn::layers::Module::<#element>::buffers(&self.#modules) {
                        out.push((::std::format!("{}.{}", #module_names, n), b));
                    }
                )*
                out
            }

            fn buffers_mut(&mut self) -> ::std::vec::Vec<(::std::string::String, &mut #nn::autograd::Tensor<#element>)> {
                let mut out = ::std::vec::Vec::new();
                #(
                    for (n, b) in #nn::layers::Module::<#element>::buffers_mut(&mut self.#modules) {
                        out.push((::std::format!("{}.{}", #module_names, n), b));
                    }
                )*
                out
            }

            fn set_training(&mut self, training: bool) {
                #( #nn::layers::Module::<#element>::set_training(&mut self.#modules, training); )*
            }

            fn is_training(&self) -> bool {
                false #( || #nn::layers::Module::<#element>::is_training(&self.#modules) )*
            }
        }
    })
}
