"""Answers for the near-duplicate tests: three independent responses to one prompt ("Our
RAG assistant over 2M policy chunks has p95 latency of 3.1 s against a 1.5 s budget, and
accuracy fell as the corpus grew: what would you change, and how would you know it
worked?") and a seeded paraphraser that changes a given share of an answer's words.

They share the domain's vocabulary (vector, latency, recall, reranker, chunks) but were
written separately; `reviewers/similarity.py`'s docstring quotes the Jaccard values
measured on them.
"""

from __future__ import annotations

import random
import re

ANSWER_A = """\
I would start by splitting the 3.1 seconds into its parts before touching the architecture. \
My guess, from similar systems, is that the budget is eaten by three things: an exhaustive or \
badly tuned vector search over two million chunks, a cross-encoder reranker scoring far too \
many passages, and a long prompt that makes generation slow. But a guess is not a plan, so the \
first step is tracing. Every request gets spans for query embedding, retrieval, reranking, \
prompt assembly and generation, and I would look at p50 and p95 per span for a week of real \
traffic.

## Retrieval

If retrieval is a flat index, I would move to **HNSW** with parameters tuned on our own data \
rather than the defaults. The knob that matters is `ef_search`: raising it buys recall at the \
price of latency, and the curve usually flattens early. I would plot recall@50 against latency \
for `ef_search` values from 32 to 512, measured against exact nearest neighbours on a sample of \
a few thousand real queries, and pick the knee. On two million 768-dimensional vectors, a \
well-tuned HNSW index should answer in 20 to 40 milliseconds on one node, which leaves most of \
the budget for everything else.

I would also add a lexical leg. Policy questions are full of exact terms (form numbers, \
product codes, names of committees) that dense embeddings blur together. Running BM25 in \
parallel with the vector search and merging the two lists with reciprocal rank fusion is \
cheap, because both legs run concurrently, and in my experience it fixes a whole class of \
"the answer is obviously in the handbook but the bot can't find it" complaints.

## Why accuracy dropped

When a corpus grows from fifty thousand to two million chunks, near-duplicate and outdated \
documents crowd the top of the results. Ten versions of the travel policy all look equally \
relevant to the embedding model. So I would deduplicate at ingestion, keep a validity date on \
every chunk, and filter superseded versions out before ranking. Metadata filters on department \
and document type also shrink the candidate set, which helps recall and latency at the same \
time.

Chunking deserves a look too. If chunks were cut at a fixed 512 tokens, tables and numbered \
procedures get split mid-step, and the model receives half an answer. I would re-chunk along \
headings with a modest overlap and store the section title with each chunk so the reranker \
sees context.

## Reranking

The reranker is probably where most of the latency hides. A cross-encoder over 100 candidates \
at roughly 4 milliseconds each on a CPU is 400 milliseconds before anything else happens. I \
would cut the candidate list to 30, run the reranker on a GPU or use a distilled model, and \
measure how much top-5 precision we lose at each cut. Often it is almost nothing, because the \
fused first stage already puts the good passages near the top.

## Generation

Fewer, better passages also mean a shorter prompt, and prompt length drives time to first \
token. I would stream the response so the user sees text within a second, cap the context at \
five passages, and cache answers for the most frequent questions, keyed on a normalised query \
and invalidated when a source document changes.

## Knowing it worked

I would build an evaluation set of around 300 real questions with labelled supporting \
passages, drawn from logs and checked by people who own the policies. Offline, I would track \
recall@k for the retriever, precision of the reranked top five, and answer faithfulness graded \
against the cited passages. Online, I would watch p95 latency per span, the rate of "I \
couldn't find that" answers, and thumbs-down feedback. Each change ships behind a flag to a \
slice of traffic, one change at a time, so that if accuracy moves I know which change moved \
it. The goal is p95 under 1.5 seconds with recall@50 at least as good as today, and I would \
not call it done until both hold for two consecutive weeks.
"""

ANSWER_B = """\
Short version: the system is slow because it does too much work per question, and it got \
worse because the corpus got noisier, not just bigger. My plan attacks both.

First, measurement. I would not trust any single number from the current system until I can \
see a trace per request. I expect the vector database to be the first suspect, but in teams I \
have worked with the surprise was usually elsewhere: a reranker running on CPU, a synchronous \
call to a permissions service, or an embedding model loaded cold on every request. Whatever \
the trace shows, I fix the biggest bar first.

Second, the index. Two million chunks is not a big number for modern vector stores. IVF with \
product quantisation would fit in memory on a single machine and return candidates in a few \
milliseconds, and an HNSW graph would be similar with better recall. I would keep \
full-precision vectors on disk and rescore the top two hundred candidates exactly, which \
recovers most of the recall lost to quantisation. Sharding is not needed at this size and \
would add tail latency from the slowest shard.

Third, query understanding. Many questions users type are vague: "what's the rule for \
laptops". I would add a small query rewriting step that expands acronyms from a glossary and \
attaches filters such as region or employee type when the question implies them. This is \
cheap when done with a small model or even rules, and it means the search operates over \
thousands of relevant chunks instead of millions.

Fourth, a hybrid ranker. Dense retrieval misses exact identifiers; keyword search misses \
paraphrases. Combining them gives better recall than either alone. Then a reranker, but a \
small one: a distilled cross-encoder scoring the top twenty-five. I would test whether the \
reranker earns its latency at all by comparing answer quality with and without it on the \
evaluation set.

On accuracy: I would look at the failures before theorising. Pull a hundred thumbs-down \
conversations, label why each one failed (wrong document retrieved, right document but wrong \
section, right passage but the model ignored it, or the question has no answer in the corpus) \
and let the counts decide what to build. If most failures are stale documents, fix ingestion. \
If the model ignores good context, change the prompt or the model, not the retriever.

For evaluation I want two layers. A fixed golden set, maybe two hundred questions with known \
source documents, run in CI on every change, reporting hit rate at ten and mean reciprocal \
rank. And a live layer: latency percentiles from the traces, the share of sessions where a \
user rephrases the same question, which is a good signal that the first answer missed, and a \
weekly human review of a random sample.

Finally, the budget. I would allocate it explicitly, say 100 milliseconds for embedding and \
rewriting, 150 for retrieval, 250 for reranking, and the remainder for generation with \
streaming, and alert when any stage exceeds its share at p95. Budgets that are written down \
get defended; budgets that live in someone's head erode one feature at a time.
"""

ANSWER_C = """\
The honest answer is that I would not redesign anything in the first two weeks. A RAG system \
that got slower and less accurate as its data grew usually has a few specific problems, and \
the fastest route to fixing them is to find them.

**Latency.** Three seconds at p95 with a 1.5 second target means we need to halve the tail, \
not the median. Tails come from variance: garbage collection pauses, cold caches, a retriever \
that sometimes scans a huge partition, a reranker batch that waits for stragglers. I would \
collect per-stage timings and look specifically at the slowest one percent of requests to see \
what they share. Often it is long queries, queries with no filters, or requests that hit a \
replica under load.

**Accuracy.** The growth from a small curated corpus to two million chunks probably pulled in \
wikis, meeting notes and drafts. These documents are written casually and contradict the \
official policies. I would tag every source with an authority level and boost official \
sources at ranking time, and I would check how many of the top results for common questions \
come from low-authority sources. My expectation is that a lot of the accuracy loss is here, \
and no amount of vector tuning fixes it.

**Architecture, once the data is in.** A two-stage retriever: approximate nearest neighbour \
search over embeddings plus a keyword index, each returning fifty candidates, fused by rank; \
then a lightweight reranker that reads the query and each passage together. I would choose \
the embedding model by running three candidates on our own labelled questions rather than by \
leaderboard scores, because policy language is unusual. If the best model is large, I would \
embed documents offline with it and use a smaller compatible query encoder online.

For the generation step I would ask the model to cite the passage identifiers it used, and \
reject or retry answers whose citations do not support them. That makes hallucinated policy \
much rarer and gives reviewers a way to audit answers.

**Measurement.** I need a benchmark that represents real traffic: sample questions from the \
logs, stratified by department, with the correct source documents marked by subject experts. \
Recall at twenty for the retriever, citation accuracy for the generator, and latency \
percentiles for the whole pipeline. Every experiment gets compared to the baseline on the \
same set, and I would keep a changelog of what moved each metric, so that six months later we \
know why the system looks the way it does.
"""

INDEPENDENT = {"A": ANSWER_A, "B": ANSWER_B, "C": ANSWER_C}
# What the module counts as a word, to substitute words in place and keep the punctuation.
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SYNONYMS = {
    "the": "that",
    "a": "one",
    "and": "plus",
    "of": "from",
    "to": "towards",
    "i": "we",
    "would": "will",
    "is": "remains",
    "in": "within",
    "for": "regarding",
    "on": "upon",
    "with": "alongside",
    "that": "which",
    "it": "this",
    "at": "around",
    "latency": "delay",
    "recall": "coverage",
    "vector": "embedding",
    "reranker": "rescorer",
    "chunks": "fragments",
    "passages": "excerpts",
    "index": "catalogue",
    "search": "lookup",
    "model": "network",
    "answer": "reply",
    "answers": "replies",
    "questions": "queries",
    "query": "question",
    "budget": "allowance",
    "measure": "gauge",
    "change": "alteration",
    "real": "actual",
    "documents": "files",
    "policy": "rule",
    "first": "initial",
    "two": "2",
    "million": "m",
    "milliseconds": "ms",
}
FALLBACK = ("really", "quite", "largely", "simply", "mostly", "broadly")


def paraphrase(text: str, share: float, seed: int) -> str:
    """`text` with `share` of its words replaced at seeded random positions, punctuation kept."""
    spans = list(WORD.finditer(text))
    positions = set(random.Random(seed).sample(range(len(spans)), round(share * len(spans))))
    pieces: list[str] = []
    last = 0
    for n, match in enumerate(spans):
        if n not in positions:
            continue
        word = match.group().lower()
        replacement = SYNONYMS.get(word, FALLBACK[n % len(FALLBACK)])
        if replacement == word:
            replacement = FALLBACK[(n + 1) % len(FALLBACK)]
        pieces += [text[last : match.start()], replacement]
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)
