"""Access to the per-app database and cache handles bound by ``create_app``."""

from __future__ import annotations

from flask import current_app

from movierec.answer_cache import AnswerCache
from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from movierec.services.catalogue import MovieCatalogue
from movierec.services.changes import RecentChanges


def get_db() -> Database:
    return current_app.extensions["movierec.db"]


def get_cache() -> CacheStore:
    return current_app.extensions["movierec.cache"]


def get_settings() -> Settings:
    return current_app.config["MOVIEREC_SETTINGS"]


def get_catalogue() -> MovieCatalogue:
    return current_app.extensions["movierec.catalogue"]


def get_answers() -> AnswerCache:
    return current_app.extensions["movierec.answers"]


def get_recommendation_answers() -> AnswerCache:
    return current_app.extensions["movierec.recommendation_answers"]


def get_changes() -> RecentChanges:
    return current_app.extensions["movierec.changes"]
