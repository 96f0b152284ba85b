"""One pydantic model per Delta table; the Spark schemas are derived from them."""
from schemas.aligned_qas import AlignedQA
from schemas.answers import Answer
from schemas.benchmark_items import BenchmarkItem
from schemas.candidate_qas import CandidateQA
from schemas.consistent_qas import ConsistentQA
from schemas.final_qas import FinalQA
from schemas.images import ImageRecord
from schemas.llm_batches import LlmBatch
from schemas.llm_calls import LlmCall
from schemas.pages import Page
from schemas.search_hits import SearchHit
from schemas.search_index import IndexedImage
from schemas.search_responses import SearchResponse
from schemas.seeds import Seed
from schemas.stage_progress import StageProgress
from schemas.stage_runs import StageRun
from schemas.urls import UrlRecord
from schemas.valid_qas import ValidQA

ALL_TABLES = (
    Seed, IndexedImage, SearchResponse, SearchHit, UrlRecord, Page, ImageRecord, CandidateQA, ValidQA, Answer, ConsistentQA, AlignedQA,
    FinalQA, BenchmarkItem, LlmCall, LlmBatch, StageProgress, StageRun,
)
