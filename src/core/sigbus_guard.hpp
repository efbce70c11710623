// The process-wide SIGBUS guard behind `mapping` (see include/zcopy/mapping.hpp for the contract).
//
// A fixed table of `max_guarded_mappings` slots, each an address range with the protection it
// was mapped with and a `truncated` flag. Normal code claims and frees slots; the signal handler
// only reads the table (no locks, no allocation), so it can run on any thread at any moment.
// The handler is installed the first time a slot is claimed and stays installed.
#pragma once

#include <cstddef>

namespace zcopy::detail {

// Guards [begin, begin + length), mapped with protection `prot` (PROT_READ, PROT_WRITE). Returns
// the slot, or -1 when every slot is taken or the handler could not be installed (the mapping
// then lives unguarded).
int sigbus_guard_register(void* begin, std::size_t length, int prot) noexcept;

// Frees `slot`. Returns only once no handler is still working on the slot, so the caller may
// unmap the range right after.
void sigbus_guard_unregister(int slot) noexcept;

// True once the handler absorbed a fault inside the slot's range.
bool sigbus_guard_truncated(int slot) noexcept;

}  // namespace zcopy::detail
