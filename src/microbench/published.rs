//! The .NET figures of the EH microbenchmark, as published in the runtime-async
//! experiment's write-up (docs/BENCHMARKS.md section 7 names the source): iterations
//! per 250 ms on another machine, printed beside contgc's for their shape only.

/// The depths of the EH table.
pub(crate) const DEPTHS: [u64; 7] = [1, 2, 4, 8, 16, 32, 64];

/// Per depth: `Task` (classic heap-allocated async) and `Async2` (runtime async)
/// iterations per 250 ms, in the order Return NoSuspend, Throw NoSuspend, Return
/// Suspend, Throw Suspend.
pub(crate) const EH: [[(f64, f64); 4]; 7] = [
    [
        (7_976_995.0, 13_966_110.0),
        (21_630.0, 46_434.0),
        (589_057.0, 629_310.0),
        (15_563.0, 21_208.0),
    ],
    [
        (4_738_359.0, 11_573_294.0),
        (13_781.0, 38_975.0),
        (390_167.0, 617_464.0),
        (9_806.0, 21_514.0),
    ],
    [
        (2_884_153.0, 8_340_047.0),
        (7_717.0, 29_887.0),
        (276_584.0, 577_707.0),
        (5_778.0, 21_288.0),
    ],
    [
        (1_274_335.0, 5_308_395.0),
        (4_068.0, 20_358.0),
        (217_067.0, 474_723.0),
        (3_476.0, 20_877.0),
    ],
    [
        (536_064.0, 2_888_828.0),
        (2_104.0, 12_941.0),
        (132_636.0, 315_191.0),
        (1_912.0, 20_496.0),
    ],
    [
        (263_823.0, 1_157_832.0),
        (1_032.0, 7_319.0),
        (71_989.0, 184_699.0),
        (973.0, 19_379.0),
    ],
    [
        (113_187.0, 488_245.0),
        (484.0, 3_936.0),
        (37_086.0, 98_769.0),
        (458.0, 17_565.0),
    ],
];

/// The finally table's rows: frames with a finally block (at stack depth 32).
pub(crate) const FINALLY_COUNTS: [u64; 6] = [1, 2, 4, 8, 16, 32];

/// Per row: (`Task`, `Async2`) iterations per 250 ms for Throw NoSuspend, then Throw
/// Suspend.
pub(crate) const FINALLY: [[(f64, f64); 2]; 6] = [
    [(1067.0, 7504.0), (965.0, 20107.0)],
    [(1032.0, 7441.0), (965.0, 12140.0)],
    [(1034.0, 7392.0), (959.0, 7306.0)],
    [(1006.0, 7287.0), (928.0, 4268.0)],
    [(972.0, 7045.0), (912.0, 2307.0)],
    [(872.0, 6961.0), (857.0, 1194.0)],
];

/// The finally table's stack depth.
pub(crate) const FINALLY_DEPTH: u64 = 32;
