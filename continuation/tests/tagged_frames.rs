//! Frames with tagged values (`FrameLayout::tagged`): an interpreter's frame is a
//! vector of values, each a small integer or a reference. A suspended frame's
//! references move with collections, its immediates stay as they are, and the frame
//! code reads both back when resumed. The verifier is on.

mod common;

use contgc_collector::{CollectionKind, TagScheme, Tagged, TaggedError, TypeDescriptor};
use contgc_continuation::{
    resume_chain_with, Capture, ChainOutcome, Frame, FrameLayout, Outcome, Suspension, Value,
};

struct Ctx {
    obj: contgc_collector::TypeId,
}

/// Returns the sum of its two integer values and its object's data word.
fn sum<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let ft = f.frame_type();
    let (Tagged::Imm(a), Tagged::Imm(b), Tagged::Ref(o)) =
        (f.tagged(ft, 0), f.tagged(ft, 1), f.tagged(ft, 2))
    else {
        panic!("the values changed kind");
    };
    let data = f.scope().read_u64(o, 0);
    Outcome::Return(Value::Data((a >> 1) + (b >> 1) + data))
}

#[test]
fn a_suspended_frames_tagged_values_survive_collections() {
    let heap = common::verified_heap(256 << 10);
    let obj = heap
        .register_type(&TypeDescriptor::fixed("Obj", 8))
        .unwrap();
    let ft = FrameLayout::new("Interp")
        .tagged(3, TagScheme::LOW_BIT)
        .register_with_context::<Ctx>(&heap, sum)
        .unwrap();
    let mut ctx = Ctx { obj };
    let obj_ty = ctx.obj;
    let mut m = heap.mutator();
    m.scope(|s| {
        let task = s.scope(|s| {
            let o = s.alloc(obj_ty).unwrap();
            s.write_u64(o, 0, 100);
            let mut c = Capture::begin(s, &ft, None, 0).unwrap();
            c.set_tagged(0, Tagged::Imm((20 << 1) | 1)).unwrap();
            c.set_tagged(1, Tagged::Imm((3 << 1) | 1)).unwrap();
            c.set_tagged(2, Tagged::Ref(o)).unwrap();
            assert_eq!(
                c.set_tagged(0, Tagged::Imm(0x1000)).err(),
                Some(TaggedError::LooksLikeReference { word: 0x1000 })
            );
            let k = c.finish();
            let mut chain = Suspension::new();
            chain.push(s, k);
            s.suspend_task(chain.head().unwrap().local())
        });
        // Only the suspended frame's tagged value keeps the object alive now.
        for kind in [
            CollectionKind::Minor,
            CollectionKind::Major,
            CollectionKind::Minor,
        ] {
            s.collect(kind);
        }
        let leaf = s.resume_task(task).into_heap().unwrap();
        let leaf = contgc_continuation::Continuation::from_local(s, leaf).unwrap();
        assert_eq!(
            resume_chain_with(s, leaf, &mut ctx),
            Ok(ChainOutcome::Completed(Value::Data(123)))
        );
    });
}
