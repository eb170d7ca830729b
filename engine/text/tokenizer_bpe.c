/* Byte-pair merging over token ids; see tokenizer_bpe.h.
 *
 * The merge table is an open-addressing hash keyed by the packed id pair.
 * Applying it keeps the word as a linked list of symbols and the candidate
 * pairs in a min-heap ordered by (rank, position), so a long word costs
 * O(n log n) instead of a rescan of every pair after every merge.  Heap
 * entries are not removed when a merge changes their pair; they are checked
 * and dropped when popped.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "tokenizer_bpe.h"

#include <glib.h>

/* ---- merge table ------------------------------------------------------- */

typedef struct {
  uint64_t pair;
  int32_t rank; /* -1: empty slot */
  int32_t merged;
} merge_slot;

struct sdcl_bpe {
  merge_slot *slots;
  unsigned capacity_log2;
  int n_merges;
};

static uint64_t
pack_pair (int32_t left, int32_t right)
{
  return ((uint64_t) (uint32_t) left << 32) | (uint32_t) right;
}

static size_t
slot_index (uint64_t pair, unsigned capacity_log2)
{
  /* Fibonacci hashing: the top bits of the product mix every input bit. */
  return (size_t) ((pair * UINT64_C (0x9E3779B97F4A7C15)) >> (64 - capacity_log2));
}

static merge_slot *
find_slot (merge_slot *slots, unsigned capacity_log2, uint64_t pair)
{
  size_t mask = ((size_t) 1 << capacity_log2) - 1;
  size_t i = slot_index (pair, capacity_log2);
  while (slots[i].rank >= 0 && slots[i].pair != pair)
    i = (i + 1) & mask;
  return &slots[i];
}

static merge_slot *
new_slots (unsigned capacity_log2)
{
  size_t capacity = (size_t) 1 << capacity_log2;
  merge_slot *slots = g_new (merge_slot, capacity);
  for (size_t i = 0; i < capacity; i++)
    slots[i].rank = -1;
  return slots;
}

static void
grow (sdcl_bpe *bpe)
{
  unsigned old_log2 = bpe->capacity_log2;
  merge_slot *old = bpe->slots;
  bpe->capacity_log2 = old_log2 + 1;
  bpe->slots = new_slots (bpe->capacity_log2);
  for (size_t i = 0; i < ((size_t) 1 << old_log2); i++)
    if (old[i].rank >= 0)
      *find_slot (bpe->slots, bpe->capacity_log2, old[i].pair) = old[i];
  g_free (old);
}

sdcl_bpe *
sdcl_bpe_new (void)
{
  sdcl_bpe *bpe = g_new0 (sdcl_bpe, 1);
  bpe->capacity_log2 = 10;
  bpe->slots = new_slots (bpe->capacity_log2);
  return bpe;
}

void
sdcl_bpe_free (sdcl_bpe *bpe)
{
  if (!bpe)
    return;
  g_free (bpe->slots);
  g_free (bpe);
}

void
sdcl_bpe_add_merge (sdcl_bpe *bpe, int32_t left, int32_t right, int32_t merged)
{
  /* Keep the table at most half full so probe chains stay short. */
  if ((size_t) (bpe->n_merges + 1) * 2 > ((size_t) 1 << bpe->capacity_log2))
    grow (bpe);
  uint64_t pair = pack_pair (left, right);
  merge_slot *slot = find_slot (bpe->slots, bpe->capacity_log2, pair);
  *slot = (merge_slot) { .pair = pair, .rank = bpe->n_merges, .merged = merged };
  bpe->n_merges++;
}

int
sdcl_bpe_n_merges (const sdcl_bpe *bpe)
{
  return bpe->n_merges;
}

static const merge_slot *
lookup (const sdcl_bpe *bpe, int32_t left, int32_t right)
{
  const merge_slot *slot = find_slot (bpe->slots, bpe->capacity_log2, pack_pair (left, right));
  return slot->rank >= 0 ? slot : NULL;
}

/* ---- candidate heap ---------------------------------------------------- */

typedef struct {
  int32_t rank;
  int32_t pos; /* index of the pair's left symbol in the word */
} candidate;

typedef struct {
  candidate *items;
  int n;
} candidate_heap;

static gboolean
comes_first (candidate a, candidate b)
{
  return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void
heap_push (candidate_heap *heap, candidate c)
{
  int i = heap->n++;
  while (i > 0 && comes_first (c, heap->items[(i - 1) / 2]))
    {
      heap->items[i] = heap->items[(i - 1) / 2];
      i = (i - 1) / 2;
    }
  heap->items[i] = c;
}

static candidate
heap_pop (candidate_heap *heap)
{
  candidate top = heap->items[0];
  candidate last = heap->items[--heap->n];
  int i = 0;
  for (;;)
    {
      int child = 2 * i + 1;
      if (child >= heap->n)
        break;
      if (child + 1 < heap->n && comes_first (heap->items[child + 1], heap->items[child]))
        child++;
      if (!comes_first (heap->items[child], last))
        break;
      heap->items[i] = heap->items[child];
      i = child;
    }
  if (heap->n > 0)
    heap->items[i] = last;
  return top;
}

/* ---- applying merges --------------------------------------------------- */

typedef struct {
  int32_t *id;
  int *prev, *next; /* neighbours among live symbols, -1 at the ends */
  gboolean *dead;
} symbol_list;

static void
push_pair_at (const sdcl_bpe *bpe, const symbol_list *s, candidate_heap *heap, int pos)
{
  if (pos < 0 || s->next[pos] < 0)
    return;
  const merge_slot *m = lookup (bpe, s->id[pos], s->id[s->next[pos]]);
  if (m)
    heap_push (heap, (candidate) { .rank = m->rank, .pos = pos });
}

int
sdcl_bpe_apply (const sdcl_bpe *bpe, int32_t *word, int n)
{
  if (n < 2)
    return n;

  symbol_list s = { .id = word, .prev = g_new (int, n), .next = g_new (int, n),
                    .dead = g_new0 (gboolean, n) };
  for (int i = 0; i < n; i++)
    {
      s.prev[i] = i - 1;
      s.next[i] = i + 1 < n ? i + 1 : -1;
    }
  /* n - 1 initial pairs, then at most two new pairs per merge. */
  candidate_heap heap = { .items = g_new (candidate, 3 * (size_t) n), .n = 0 };
  for (int i = 0; i + 1 < n; i++)
    push_pair_at (bpe, &s, &heap, i);

  while (heap.n > 0)
    {
      candidate c = heap_pop (&heap);
      int right = s.next[c.pos];
      if (s.dead[c.pos] || right < 0)
        continue;
      const merge_slot *m = lookup (bpe, s.id[c.pos], s.id[right]);
      if (!m || m->rank != c.rank)
        continue; /* stale: the pair at c.pos changed since it was pushed */

      s.id[c.pos] = m->merged;
      s.dead[right] = TRUE;
      s.next[c.pos] = s.next[right];
      if (s.next[right] >= 0)
        s.prev[s.next[right]] = c.pos;
      push_pair_at (bpe, &s, &heap, s.prev[c.pos]);
      push_pair_at (bpe, &s, &heap, c.pos);
    }

  int kept = 0;
  for (int i = 0; i < n; i++)
    if (!s.dead[i])
      word[kept++] = word[i];

  g_free (heap.items);
  g_free (s.prev);
  g_free (s.next);
  g_free (s.dead);
  return kept;
}
