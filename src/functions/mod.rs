//! Registered Rust functions: what an application that uses taskyard as a library gives it to run as jobs
//! besides commands. Each [`Function`] has a URL-safe unique name, a description, tags, and the JSON Schema of its
//! params, derived from their Rust type (serde + schemars) and published by the API. The [`Registry`] holds them
//! with the shared state they ask for by type; the engine calls them with a [`JobContext`].
//!
//! This room owns registration and the call's shape; running a call as a job (leases, output, timeouts, cancel,
//! the result) is the engine's (`engine::call`).
//!
//! ```no_run
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//! use taskyard::functions::{Function, JobContext, Registry};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct AddParams {
//!     a: i64,
//!     b: i64,
//! }
//!
//! async fn add(p: AddParams, ctx: JobContext) -> Result<serde_json::Value, String> {
//!     ctx.log(format!("adding {} and {}", p.a, p.b));
//!     Ok(serde_json::json!({ "result": p.a + p.b }))
//! }
//!
//! let registry = Registry::builder()
//!     .function(Function::new("add", add).doc("Adds two integers").tags(["math"]))
//!     .build()
//!     .expect("valid functions");
//! ```
mod context;
mod handler;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use context::JobContext;
pub(crate) use context::Said;
pub use handler::Called;
pub(crate) use handler::Invocation;
pub use handler::{AsyncFunction, BlockingFunction, Failure, FromJob, FromJobArgs, State};
pub use handler::{CallFuture, StateMap};

use crate::domain::ParamsSchema;

/// The longest function name (it is also the name of the task that runs it by name).
pub const MAX_NAME_LEN: usize = 64;

/// Params for a function that takes none: `{}`.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

type Invoke = Arc<dyn Fn(Value, JobContext, &StateMap) -> Result<Invocation, Failure> + Send + Sync>;

/// One function as registered.
#[derive(Clone)]
pub struct Function {
    name: String,
    doc: String,
    tags: Vec<String>,
    /// The params' JSON Schema document.
    schema: Value,
    invoke: Invoke,
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Function").field("name", &self.name).field("tags", &self.tags).finish_non_exhaustive()
    }
}

fn schema_of<P: JsonSchema>() -> Value {
    schemars::schema_for!(P).to_value()
}

impl Function {
    /// An async function: `async fn(params: P, args…) -> Result<R, E>`, where `P: Deserialize + JsonSchema`,
    /// each further argument is [`State<T>`] or [`JobContext`], `R: Serialize` and `E: Display`.
    pub fn new<P, Args, F>(name: &str, function: F) -> Function
    where
        P: DeserializeOwned + JsonSchema + Send + 'static,
        Args: FromJobArgs,
        F: AsyncFunction<P, Args>,
    {
        let function = Arc::new(function);
        let invoke: Invoke = Arc::new(move |params, ctx, state| {
            let (params, args) = prepare::<P, Args>(params, &ctx, state)?;
            Ok(Invocation::Async(function.call(params, args)))
        });
        Function::with(name, schema_of::<P>(), invoke)
    }

    /// A blocking function (`fn`, not `async fn`): it runs on the blocking thread pool, never on the async
    /// workers. Same arguments as [`Function::new`].
    pub fn blocking<P, Args, F>(name: &str, function: F) -> Function
    where
        P: DeserializeOwned + JsonSchema + Send + 'static,
        Args: FromJobArgs,
        F: BlockingFunction<P, Args>,
    {
        let function = Arc::new(function);
        let invoke: Invoke = Arc::new(move |params, ctx, state| {
            let (params, args) = prepare::<P, Args>(params, &ctx, state)?;
            let function = function.clone();
            Ok(Invocation::Blocking(Box::new(move || function.call(params, args))))
        });
        Function::with(name, schema_of::<P>(), invoke)
    }

    fn with(name: &str, schema: Value, invoke: Invoke) -> Function {
        Function { name: name.to_string(), doc: String::new(), tags: Vec::new(), schema, invoke }
    }

    /// Its description, as the API shows it.
    pub fn doc(mut self, doc: &str) -> Function {
        self.doc = doc.trim().to_string();
        self
    }

    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Function {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.doc
    }

    pub fn tag_list(&self) -> &[String] {
        &self.tags
    }

    /// The params' JSON Schema (draft 2020-12), with their defaults and which are required.
    pub fn schema(&self) -> &Value {
        &self.schema
    }
}

fn prepare<P: DeserializeOwned, Args: FromJobArgs>(
    params: Value,
    ctx: &JobContext,
    state: &StateMap,
) -> Result<(P, Args), Failure> {
    let params = serde_json::from_value(params).map_err(|e| Failure::named("params", format!("bad params: {e}")))?;
    let args = Args::from_job_args(ctx, state).map_err(|e| Failure::named("state", e))?;
    Ok((params, args))
}

/// A registered function with its checked schema.
#[derive(Debug, Clone)]
pub struct Registered {
    pub function: Function,
    pub schema: ParamsSchema,
}

/// Why a registry cannot be built: the application's mistake, reported at start.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "function name '{0}' is not valid: use 1 to {MAX_NAME_LEN} letters, digits, '_' or '-', starting with a letter or digit"
    )]
    BadName(String),
    #[error("function '{0}' is registered twice")]
    Duplicate(String),
    #[error("the params schema of function '{0}' cannot be used: {1}")]
    Schema(String, String),
}

/// Whether `name` can name a function (and the task that runs it by name).
pub fn is_function_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// The functions a node can run, and the state they ask for.
#[derive(Clone, Default)]
pub struct Registry {
    functions: BTreeMap<String, Arc<Registered>>,
    state: Arc<StateMap>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.functions.keys()).finish()
    }
}

impl Registry {
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Registered>> {
        self.functions.get(name)
    }

    /// Names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Registered>> {
        self.functions.values()
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// The call of `function` with `params` as job `ctx`, ready to run; an error when the params do not fit its
    /// type or it asks for state that was not given.
    pub(crate) fn invocation(
        &self,
        function: &Registered,
        params: Value,
        ctx: JobContext,
    ) -> Result<Invocation, Failure> {
        (function.function.invoke)(params, ctx, &self.state)
    }
}

/// Collects functions and state; [`RegistryBuilder::build`] checks them.
#[derive(Default)]
pub struct RegistryBuilder {
    functions: Vec<Function>,
    state: StateMap,
}

impl RegistryBuilder {
    /// Shared state that functions ask for as [`State<T>`] (one value per type).
    pub fn state<T: Send + Sync + 'static>(self, value: T) -> Self {
        self.state_arc(Arc::new(value))
    }

    /// Shared state already behind an `Arc`, which the application keeps using too.
    pub fn state_arc<T: Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.state.insert(value);
        self
    }

    pub fn function(mut self, function: Function) -> Self {
        self.functions.push(function);
        self
    }

    /// The registry, or the first mistake: a bad or duplicate name, a params schema taskyard cannot check.
    pub fn build(self) -> Result<Registry, RegistryError> {
        let mut functions = BTreeMap::new();
        for function in self.functions {
            let name = function.name.clone();
            if !is_function_name(&name) {
                return Err(RegistryError::BadName(name));
            }
            let schema =
                ParamsSchema::parse(function.schema.clone()).map_err(|e| RegistryError::Schema(name.clone(), e))?;
            if functions.insert(name.clone(), Arc::new(Registered { function, schema })).is_some() {
                return Err(RegistryError::Duplicate(name));
            }
        }
        Ok(Registry { functions, state: Arc::new(self.state) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, JsonSchema)]
    struct Greet {
        #[serde(default = "world")]
        name: String,
        n: i64,
        x: f64,
    }

    fn world() -> String {
        "World".into()
    }

    async fn greet(p: Greet) -> Result<Value, String> {
        Ok(serde_json::json!({ "message": format!("{} {} {}", p.name, p.n, p.x) }))
    }

    #[test]
    fn names_are_checked_and_unique() {
        let bad = Registry::builder().function(Function::new("a b", greet)).build().unwrap_err();
        assert!(matches!(bad, RegistryError::BadName(_)), "{bad}");
        let twice = Registry::builder().function(Function::new("g", greet)).function(Function::new("g", greet)).build();
        assert!(matches!(twice.unwrap_err(), RegistryError::Duplicate(n) if n == "g"));
        assert!(is_function_name("send_report-2") && !is_function_name("-x") && !is_function_name(""));
    }

    #[test]
    fn the_derived_schema_has_defaults_and_required_and_checks_params() {
        let registry = Registry::builder().function(Function::new("greet", greet)).build().unwrap();
        let greet = registry.get("greet").unwrap();
        let doc = greet.function.schema();
        assert_eq!(doc["properties"]["name"]["default"], "World");
        assert_eq!(doc["required"], serde_json::json!(["n", "x"]));
        let params = crate::domain::Params::parse(serde_json::json!({ "n": "two" }).as_object().unwrap().clone());
        let err = greet.schema.check(&params.unwrap(), false).unwrap_err();
        assert!(err.contains("n") && err.contains("x"), "{err}");
    }
}
