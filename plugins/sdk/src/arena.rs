//! The guest's allocator: a bump arena, because every instance lives for one
//! decision only.
//!
//! dun runs each decision in a fresh instance and throws it away afterwards,
//! so freeing memory inside a decision is wasted work: a general-purpose
//! allocator spends more instructions on the case's few hundred small
//! allocations than the policy spends deciding. This allocator hands out
//! memory from a static 256 KiB region (a
//! decision of the ladder on a realistic case uses a few KiB) by bumping a pointer and ignores frees
//! (except that the most recent allocation can grow or shrink in place).
//! Untouched pages of the region cost nothing: they are zero pages of the
//! initial memory image, and the host resets only the pages a decision
//! dirtied. When the region is used up, allocation falls through to the
//! system allocator, so a strategy that churns memory still works; it is
//! only slower.
//!
//! Without std there is no system allocator to fall back to: the arena then
//! grows linear memory itself and keeps bumping (the host's memory cap still
//! bounds it).
//!
//! On by default (feature `arena`); turn the feature off to use the system
//! allocator or your own `#[global_allocator]`.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
#[cfg(feature = "std")]
use std::alloc::System;

/// Where allocations go once the arena is full, without std: fresh pages
/// from `memory.grow`, bumped and never reused.
#[cfg(not(feature = "std"))]
struct System;

#[cfg(not(feature = "std"))]
static GROWN: Grown = Grown(UnsafeCell::new((0, 0)));

/// The bump range (next, end) in pages obtained from `memory.grow`.
#[cfg(not(feature = "std"))]
struct Grown(UnsafeCell<(usize, usize)>);

// SAFETY: single-threaded, as for `Arena`.
#[cfg(not(feature = "std"))]
unsafe impl Sync for Grown {}

#[cfg(not(feature = "std"))]
impl System {
    const PAGE: usize = 64 << 10;

    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded.
        let (next, end) = unsafe { &mut *GROWN.0.get() };
        let start = next.next_multiple_of(layout.align());
        if start + layout.size() > *end || *next == 0 {
            let pages = (layout.size() + layout.align()).div_ceil(Self::PAGE);
            let old = core::arch::wasm32::memory_grow(0, pages);
            if old == usize::MAX {
                return core::ptr::null_mut();
            }
            *next = old * Self::PAGE;
            *end = *next + pages * Self::PAGE;
            return unsafe { self.alloc(layout) };
        }
        *next = start + layout.size();
        start as *mut u8
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: a valid layout, as the caller guarantees for `new_size`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: distinct blocks, each valid for the copied length.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

const ARENA_BYTES: usize = 256 << 10;

#[repr(C, align(16))]
struct Region(UnsafeCell<[u8; ARENA_BYTES]>);

/// The bump arena. Wasm guests are single-threaded, so plain cells suffice.
pub struct Arena {
    region: Region,
    /// Offset of the first free byte.
    next: UnsafeCell<usize>,
}

// SAFETY: components run on one thread (wasm32-wasip2 has no threads); the
// cells are never accessed concurrently.
unsafe impl Sync for Arena {}

impl Arena {
    const fn new() -> Arena {
        Arena {
            region: Region(UnsafeCell::new([0; ARENA_BYTES])),
            next: UnsafeCell::new(0),
        }
    }

    fn base(&self) -> usize {
        self.region.0.get() as usize
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        let addr = ptr as usize;
        addr >= self.base() && addr < self.base() + ARENA_BYTES
    }
}

unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded (see `Sync` above).
        let next = unsafe { &mut *self.next.get() };
        let start = (self.base() + *next).next_multiple_of(layout.align());
        let end = start + layout.size();
        if end <= self.base() + ARENA_BYTES {
            *next = end - self.base();
            start as *mut u8
        } else {
            // SAFETY: forwarding a valid layout.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.owns(ptr) {
            // SAFETY: not ours, so it came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        } else {
            // Give back the most recent allocation; anything else is
            // reclaimed when the instance is discarded.
            // SAFETY: single-threaded.
            let next = unsafe { &mut *self.next.get() };
            if ptr as usize + layout.size() == self.base() + *next {
                *next = ptr as usize - self.base();
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: single-threaded.
        let next = unsafe { &mut *self.next.get() };
        let is_last = self.owns(ptr) && ptr as usize + layout.size() == self.base() + *next;
        if is_last && ptr as usize + new_size <= self.base() + ARENA_BYTES {
            *next = ptr as usize + new_size - self.base();
            return ptr;
        }
        if !self.owns(ptr) {
            // SAFETY: `ptr` came from `System` with `layout`.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `new_size` with the old alignment is a valid layout (the
        // caller guarantees it does not overflow isize).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller of the sizes and
            // do not overlap (the new one was handed out after the old one).
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

#[global_allocator]
static ARENA: Arena = Arena::new();
