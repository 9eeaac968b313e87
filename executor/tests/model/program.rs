//! The model's programs: structured async functions, the generator that makes them
//! from a seed, and the compiler that turns a function's statements into flat code
//! with an exception table (what the contgc frames interpret).

use std::fmt;

/// Exception codes: user exceptions are `1..FAULT_BASE`; the executor's faults are
/// `FAULT_BASE + FaultKind as u64`.
pub const FAULT_BASE: u64 = 1000;
/// `FAULT_BASE + FaultKind::Cancelled`.
pub const CANCELLED: u64 = FAULT_BASE + 1;
/// `FAULT_BASE + FaultKind::Abandoned`.
pub const ABANDONED: u64 = FAULT_BASE + 3;
/// `FAULT_BASE + FaultKind::Panicked`.
pub const PANICKED: u64 = FAULT_BASE + 4;
/// What the reference propagates for a panic of frame code: no handler takes it.
pub const PANIC: u64 = u64::MAX;
/// The message of every panic the programs cause (the test's panic hook hides it).
pub const DELIBERATE: &str = "model: a deliberate panic";
/// Nesting depth of try statements (each level has its own pending-exception slot).
pub const MAX_TRY_DEPTH: usize = 3;
/// Nesting depth of loops (each level has its own counter register).
pub const MAX_LOOP_DEPTH: usize = 2;
/// Frame-local registers holding join handles.
pub const REGS: usize = 2;
/// Most ops a compiled function may have (its suspension states are `pc << 1 | h`).
pub const MAX_OPS: usize = 512;
/// Consumer task `k`'s path is `[CONSUMER_PATH + k]`.
pub const CONSUMER_PATH: u32 = 1000;

/// A small deterministic generator (splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// The accumulator step every frame applies: order-sensitive.
pub fn mix(acc: u64, x: u64) -> u64 {
    (acc ^ x)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(23)
        .wrapping_add(1)
}

/// What unit-valued awaits mix into the accumulator.
pub const YIELDED: u64 = 0x11;
pub const SLEPT: u64 = 0x22;
pub const SENT: u64 = 0x33;
pub const ABANDONED_AWAIT: u64 = 0x44;

/// A function's accumulator before its first statement.
pub fn seed(func: usize) -> u64 {
    mix(0, 7000 + func as u64)
}

/// What a consumer task returns after receiving `count` messages summing to `sum`.
pub fn consumer_result(count: u64, sum: u64) -> u64 {
    mix(count, sum)
}

/// Which exceptions a catch takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    All,
    /// User exceptions only: the executor's faults (cancellation, abandonment) pass.
    User,
}

impl Filter {
    pub fn matches(self, code: u64) -> bool {
        match self {
            Filter::All => code != PANIC,
            Filter::User => code < FAULT_BASE,
        }
    }
}

/// What a task can wait on forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Never {
    /// A completion nobody sets.
    Completion,
    /// A receive from a channel nobody sends on (its sender is kept).
    Recv,
    /// A send into a full channel nobody receives from (its receiver is kept).
    Send,
}

/// An await a frame starts and drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abandoned {
    Yield,
    Sleep,
    Completion(usize),
    /// The completion nobody sets.
    Never,
    Join(usize),
}

/// What an awaited Rust future gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FutureOut {
    Data(u64),
    /// `FutureOutput::Fault` of this `FaultKind` code.
    Fault(u64),
    /// Its `poll` panics (the await throws `FaultKind::Panicked`).
    Panic,
}

/// A Rust future: ready at its first poll, or after a thread sleeping this long
/// wakes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FutureSpec {
    pub out: FutureOut,
    pub delay_micros: Option<u32>,
}

/// A statement of an async function. Every function returns its accumulator.
#[derive(Clone, Debug)]
pub enum Stmt {
    /// `acc = mix(acc, k)` (no await).
    Mix(u64),
    Yield,
    SleepMicros(u32),
    /// `acc = mix(acc, f().await)`.
    Call(usize),
    /// Throws user exception `code`.
    Throw(u64),
    /// Awaits completion `c` (its value is mixed in, or its exception thrown).
    Await(usize),
    /// Awaits something that never happens: the task waits here until it is cancelled.
    AwaitNever(Never),
    /// Starts an await and drops it (the frame goes on without suspending): no effect.
    Abandon(Abandoned),
    /// Awaits a Rust future.
    AwaitFuture(FutureSpec),
    /// Frame code panics: the task ends as panicked, running no handler.
    Panic,
    /// Sends `v` (a boxed number) on channel `k`.
    Send(usize, u64),
    /// Spawns a task running function `f`; its handle goes to register `r`.
    Spawn(usize, usize),
    /// Joins the task in register `r` (mixes 0 if the register is empty).
    Join(usize),
    /// Sets the task-local context to a new object holding `v` (0 clears it).
    SetCtx(u64),
    /// Reads the task-local context (0 if none): logged and mixed in.
    GetCtx,
    Try {
        id: u32,
        body: Vec<Stmt>,
        catch: Option<(Filter, Vec<Stmt>)>,
        finally: Option<Vec<Stmt>>,
    },
    /// Runs the body `n` times.
    Repeat(u64, Vec<Stmt>),
}

/// What a task logs, in order: the model compares these per task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Catch of try `id` took exception `code`.
    Caught(u32, u64),
    /// Finally of try `id` ran (normally or with an exception pending).
    Finally(u32),
    /// A context read saw this value.
    Ctx(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionValue {
    Data(u64),
    /// Set with a boxed number: a reference, kept alive by the completion and
    /// delivered (the same object) to every awaiter.
    Boxed(u64),
    /// Set with a user exception of this code.
    Exception(u64),
    /// Its last handle is dropped unset: awaiters get `FaultKind::Abandoned`.
    Abandon,
}

/// Who sets a completion: a task of the executor (sleeping `delay` first), or a plain
/// thread (data and abandonment only: an exception or a box needs a mutator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setter {
    Task,
    Thread,
}

#[derive(Clone, Copy, Debug)]
pub struct CompletionSpec {
    pub value: CompletionValue,
    pub setter: Setter,
    pub delay_micros: u32,
}

/// Heap settings of a case.
#[derive(Clone, Copy, Debug)]
pub struct HeapSettings {
    pub stress: u32,
    pub nursery_kib: usize,
    pub old_continuations: bool,
    pub root_mode: u8,
    pub promotion_age: u8,
}

/// A whole program: functions (function `f` calls and spawns only functions above
/// `f`, so calls terminate), the root tasks' entry functions, completions and
/// channels (each drained by a dedicated consumer task).
#[derive(Clone, Debug)]
pub struct Program {
    pub funcs: Vec<Vec<Stmt>>,
    pub roots: Vec<usize>,
    pub completions: Vec<CompletionSpec>,
    pub channels: Vec<usize>,
    pub heap: HeapSettings,
}

struct Gen<'r> {
    rng: &'r mut Rng,
    nfuncs: usize,
    ncomps: usize,
    nchans: usize,
    next_try: u32,
}

/// How deep the statement being generated is nested.
#[derive(Clone, Copy)]
struct Nest {
    tries: usize,
    loops: usize,
}

impl Nest {
    fn try_body(self) -> Nest {
        Nest {
            tries: self.tries + 1,
            ..self
        }
    }
    fn loop_body(self) -> Nest {
        Nest {
            loops: self.loops + 1,
            ..self
        }
    }
}

impl Gen<'_> {
    fn block(&mut self, f: usize, depth: Nest, budget: &mut i64) -> Vec<Stmt> {
        let n = self.rng.range(1, 5);
        let mut v = Vec::new();
        for _ in 0..n {
            if *budget <= 0 {
                break;
            }
            v.push(self.stmt(f, depth, budget));
        }
        v
    }

    fn stmt(&mut self, f: usize, depth: Nest, budget: &mut i64) -> Stmt {
        *budget -= 1;
        let callee = |g: &mut Self| {
            (f + 1 < g.nfuncs).then(|| g.rng.range(f as u64 + 1, g.nfuncs as u64 - 1) as usize)
        };
        loop {
            let s = match self.rng.range(0, 99) {
                0..=7 => Stmt::Mix(self.rng.range(1, 999)),
                8..=17 => Stmt::Yield,
                18..=24 => Stmt::SleepMicros(self.rng.range(0, 40) as u32),
                25..=39 => match callee(self) {
                    Some(g) => Stmt::Call(g),
                    None => continue,
                },
                40..=43 => Stmt::Throw(self.rng.range(1, 99)),
                44..=51 if self.ncomps > 0 => {
                    Stmt::Await(self.rng.range(0, self.ncomps as u64 - 1) as usize)
                }
                52..=53 => Stmt::AwaitNever(match self.rng.range(0, 3) {
                    0 => Never::Recv,
                    1 => Never::Send,
                    _ => Never::Completion,
                }),
                54 if self.rng.chance(30) => Stmt::Panic,
                54 => Stmt::Abandon(match self.rng.range(0, 5) {
                    0 => Abandoned::Yield,
                    1 => Abandoned::Sleep,
                    2 if self.ncomps > 0 => {
                        Abandoned::Completion(self.rng.range(0, self.ncomps as u64 - 1) as usize)
                    }
                    3 => Abandoned::Join(self.rng.range(0, REGS as u64 - 1) as usize),
                    _ => Abandoned::Never,
                }),
                55..=57 => Stmt::AwaitFuture(FutureSpec {
                    out: match self.rng.range(0, 9) {
                        0..=5 => FutureOut::Data(self.rng.range(1, 1 << 40)),
                        6..=8 => FutureOut::Fault(self.rng.range(1, 4)),
                        _ => FutureOut::Panic,
                    },
                    delay_micros: self.rng.chance(60).then(|| self.rng.range(0, 50) as u32),
                }),
                58..=63 if self.nchans > 0 => Stmt::Send(
                    self.rng.range(0, self.nchans as u64 - 1) as usize,
                    self.rng.range(1, 1 << 40),
                ),
                64..=68 => match callee(self) {
                    Some(g) => Stmt::Spawn(self.rng.range(0, REGS as u64 - 1) as usize, g),
                    None => continue,
                },
                69..=73 => Stmt::Join(self.rng.range(0, REGS as u64 - 1) as usize),
                74..=78 => Stmt::SetCtx(if self.rng.chance(15) {
                    0
                } else {
                    self.rng.range(1, 999)
                }),
                79..=83 => Stmt::GetCtx,
                84..=91 if depth.tries < MAX_TRY_DEPTH && *budget > 2 => {
                    let id = self.next_try;
                    self.next_try += 1;
                    let depth = depth.try_body();
                    let body = self.block(f, depth, budget);
                    let (mut catch, mut finally) = (self.rng.chance(70), self.rng.chance(55));
                    if !catch && !finally {
                        finally = true;
                    }
                    if self.rng.chance(10) {
                        catch = true;
                    }
                    let catch = catch.then(|| {
                        let filter = if self.rng.chance(35) {
                            Filter::User
                        } else {
                            Filter::All
                        };
                        (filter, self.block(f, depth, budget))
                    });
                    let finally = finally.then(|| self.block(f, depth, budget));
                    Stmt::Try {
                        id,
                        body,
                        catch,
                        finally,
                    }
                }
                92..=99 if depth.loops < MAX_LOOP_DEPTH && *budget > 1 => {
                    let n = self.rng.range(2, 4);
                    Stmt::Repeat(n, self.block(f, depth.loop_body(), budget))
                }
                _ => continue,
            };
            return s;
        }
    }
}

/// Generates a program from `rng` (the caller bounds its dynamic size with the
/// reference interpreter and asks again if it is too large).
pub fn generate(rng: &mut Rng) -> Program {
    let nfuncs = rng.range(2, 10) as usize;
    let ncomps = rng.range(0, 4) as usize;
    let nchans = rng.range(0, 2) as usize;
    let mut g = Gen {
        rng,
        nfuncs,
        ncomps,
        nchans,
        next_try: 1,
    };
    let funcs = (0..nfuncs)
        .map(|f| {
            let mut budget = g.rng.range(3, 24) as i64;
            let mut body = Vec::new();
            while budget > 0 {
                body.push(g.stmt(f, Nest { tries: 0, loops: 0 }, &mut budget));
            }
            body
        })
        .collect();
    let roots = (0..g.rng.range(1, 6))
        .map(|_| g.rng.range(0, nfuncs as u64 / 2) as usize)
        .collect();
    let completions = (0..ncomps)
        .map(|_| {
            let setter = if g.rng.chance(35) {
                Setter::Thread
            } else {
                Setter::Task
            };
            let value = match g.rng.range(0, 99) {
                0..=44 => CompletionValue::Data(g.rng.range(1, 1 << 40)),
                45..=59 if setter == Setter::Task => {
                    CompletionValue::Boxed(g.rng.range(1, 1 << 40))
                }
                45..=59 => CompletionValue::Data(g.rng.range(1, 1 << 40)),
                60..=84 if setter == Setter::Task => CompletionValue::Exception(g.rng.range(1, 99)),
                60..=84 => CompletionValue::Data(g.rng.range(1, 1 << 40)),
                _ => CompletionValue::Abandon,
            };
            CompletionSpec {
                value,
                setter,
                delay_micros: g.rng.range(0, 150) as u32,
            }
        })
        .collect();
    let channels = (0..nchans).map(|_| g.rng.range(1, 3) as usize).collect();
    let heap = HeapSettings {
        stress: g.rng.range(1, 24) as u32,
        nursery_kib: 64 << g.rng.range(0, 2),
        old_continuations: g.rng.chance(25),
        root_mode: g.rng.range(0, 2) as u8,
        promotion_age: g.rng.range(1, 3) as u8,
    };
    Program {
        funcs,
        roots,
        completions,
        channels,
        heap,
    }
}

/// One instruction of compiled code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Mix(u64),
    Yield,
    SleepMicros(u32),
    Call(usize),
    Throw(u64),
    Await(usize),
    AwaitNever(Never),
    Abandon(Abandoned),
    AwaitFuture(FutureSpec),
    Panic,
    Send(usize, u64),
    Spawn(usize, usize),
    Join(usize),
    SetCtx(u64),
    GetCtx,
    Jump(usize),
    /// Entry of try `id`'s catch: takes the exception being handled.
    Catch(u32),
    /// Entry of try `id`'s finally on the normal path.
    FinallyNormal(u32),
    /// Entry of try `id`'s finally with an exception pending: keeps it in slot `s`.
    FinallyExc(u32, usize),
    /// Throws the exception pending in slot `s` on.
    Rethrow(usize),
    /// Sets loop counter `s` to `n`.
    LoopInit(usize, u64),
    /// Counts loop counter `s` down; jumps back to the body's start while it is not 0.
    LoopNext(usize, usize),
}

/// An exception table entry: exceptions raised at `start..end` go to `target` (a
/// catch if `filter` is set and matches, a finally if `filter` is `None`).
#[derive(Clone, Copy, Debug)]
pub struct Handler {
    pub start: usize,
    pub end: usize,
    pub target: usize,
    pub filter: Option<Filter>,
}

/// A compiled function. Handlers are listed innermost first.
#[derive(Clone, Debug, Default)]
pub struct Code {
    pub ops: Vec<Op>,
    pub handlers: Vec<Handler>,
}

impl Code {
    /// True if some handler covers `pc` (the frame's suspension state there is a
    /// handler state: the dispatcher delivers exceptions to it).
    pub fn covered(&self, pc: usize) -> bool {
        self.handlers.iter().any(|h| (h.start..h.end).contains(&pc))
    }

    /// Where an exception of `code` raised at `pc` goes, if this function handles it.
    pub fn handler(&self, pc: usize, code: u64) -> Option<usize> {
        self.handlers
            .iter()
            .find(|h| (h.start..h.end).contains(&pc) && h.filter.is_none_or(|f| f.matches(code)))
            .map(|h| h.target)
    }
}

pub fn compile(body: &[Stmt]) -> Code {
    let mut c = Code::default();
    emit_block(&mut c, body, Nest { tries: 0, loops: 0 });
    assert!(c.ops.len() <= MAX_OPS, "a compiled function is too long");
    c
}

fn emit_block(c: &mut Code, body: &[Stmt], depth: Nest) {
    for s in body {
        emit(c, s, depth);
    }
}

fn emit(c: &mut Code, s: &Stmt, depth: Nest) {
    let op = match *s {
        Stmt::Mix(k) => Op::Mix(k),
        Stmt::Yield => Op::Yield,
        Stmt::SleepMicros(us) => Op::SleepMicros(us),
        Stmt::Call(f) => Op::Call(f),
        Stmt::Throw(e) => Op::Throw(e),
        Stmt::Await(k) => Op::Await(k),
        Stmt::AwaitNever(n) => Op::AwaitNever(n),
        Stmt::Abandon(a) => Op::Abandon(a),
        Stmt::AwaitFuture(f) => Op::AwaitFuture(f),
        Stmt::Panic => Op::Panic,
        Stmt::Send(k, v) => Op::Send(k, v),
        Stmt::Spawn(r, f) => Op::Spawn(r, f),
        Stmt::Join(r) => Op::Join(r),
        Stmt::SetCtx(v) => Op::SetCtx(v),
        Stmt::GetCtx => Op::GetCtx,
        Stmt::Try {
            id,
            ref body,
            ref catch,
            ref finally,
        } => return emit_try(c, id, body, catch.as_ref(), finally.as_deref(), depth),
        Stmt::Repeat(n, ref body) => {
            c.ops.push(Op::LoopInit(depth.loops, n));
            let start = c.ops.len();
            emit_block(c, body, depth.loop_body());
            Op::LoopNext(depth.loops, start)
        }
    };
    c.ops.push(op);
}

/// `try { body } catch { .. } finally { .. }` as compilers lay it out: the body, a
/// jump over the catch, the catch, the finally's normal copy, a jump to the end, and
/// the finally's exceptional copy ending in a rethrow.
fn emit_try(
    c: &mut Code,
    id: u32,
    body: &[Stmt],
    catch: Option<&(Filter, Vec<Stmt>)>,
    finally: Option<&[Stmt]>,
    outer: Nest,
) {
    let (slot, depth) = (outer.tries, outer.try_body());
    let start = c.ops.len();
    emit_block(c, body, depth);
    let body_end = c.ops.len();
    let mut to_normal = Vec::new();
    let mut catch_entry = None;
    if let Some((filter, handler)) = catch {
        to_normal.push(c.ops.len());
        c.ops.push(Op::Jump(usize::MAX));
        catch_entry = Some((c.ops.len(), *filter));
        c.ops.push(Op::Catch(id));
        emit_block(c, handler, depth);
    }
    let protected_end = c.ops.len();
    let normal = c.ops.len();
    let mut to_end = Vec::new();
    let mut exc_entry = None;
    if let Some(fin) = finally {
        c.ops.push(Op::FinallyNormal(id));
        emit_block(c, fin, depth);
        to_end.push(c.ops.len());
        c.ops.push(Op::Jump(usize::MAX));
        exc_entry = Some(c.ops.len());
        c.ops.push(Op::FinallyExc(id, slot));
        emit_block(c, fin, depth);
        c.ops.push(Op::Rethrow(slot));
    }
    let end = c.ops.len();
    for at in to_normal {
        c.ops[at] = Op::Jump(normal);
    }
    for at in to_end {
        c.ops[at] = Op::Jump(end);
    }
    if let Some((target, filter)) = catch_entry {
        c.handlers.push(Handler {
            start,
            end: body_end,
            target,
            filter: Some(filter),
        });
    }
    if let Some(target) = exc_entry {
        c.handlers.push(Handler {
            start,
            end: protected_end,
            target,
            filter: None,
        });
    }
}

/// A readable listing, for failure reports.
impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "heap: {:?}", self.heap)?;
        writeln!(f, "roots: {:?}", self.roots)?;
        for (i, c) in self.completions.iter().enumerate() {
            writeln!(f, "completion {i}: {c:?}")?;
        }
        for (i, cap) in self.channels.iter().enumerate() {
            writeln!(f, "channel {i}: capacity {cap}")?;
        }
        for (i, body) in self.funcs.iter().enumerate() {
            writeln!(f, "fn f{i}:")?;
            write_block(f, body, 1)?;
        }
        Ok(())
    }
}

fn write_block(f: &mut fmt::Formatter<'_>, body: &[Stmt], indent: usize) -> fmt::Result {
    let pad = "  ".repeat(indent);
    for s in body {
        match s {
            Stmt::Try {
                id,
                body,
                catch,
                finally,
            } => {
                writeln!(f, "{pad}try#{id} {{")?;
                write_block(f, body, indent + 1)?;
                if let Some((filter, h)) = catch {
                    writeln!(f, "{pad}}} catch {filter:?} {{")?;
                    write_block(f, h, indent + 1)?;
                }
                if let Some(h) = finally {
                    writeln!(f, "{pad}}} finally {{")?;
                    write_block(f, h, indent + 1)?;
                }
                writeln!(f, "{pad}}}")?;
            }
            Stmt::Repeat(n, body) => {
                writeln!(f, "{pad}repeat {n} {{")?;
                write_block(f, body, indent + 1)?;
                writeln!(f, "{pad}}}")?;
            }
            other => writeln!(f, "{pad}{other:?}")?,
        }
    }
    Ok(())
}
