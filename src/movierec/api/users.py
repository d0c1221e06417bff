"""Users: GET /api/v1/user/<id>, PUT /api/v1/user, DELETE /api/v1/user/<id>."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.errors import errors
from movierec.api.responses import respond
from movierec.api.schemas.common import UserPath
from movierec.api.schemas.users import NewUserBody, UserDeletedOut, UserOut
from movierec.extensions import get_cache, get_db
from movierec.services import users as users_service

users = api_blueprint("users", __name__, "Users")


@users.get("/user/<int:user_id>", responses={200: UserOut, **errors(400, 404, 503)})
def get_user(path: UserPath):  # type: ignore[no-untyped-def]
    """A user's details."""
    return respond(UserOut.model_validate(users_service.get_user(get_db(), path.user_id)))


@users.put("/user", responses={201: UserOut, **errors(400, 413, 415, 503)})
def create_user(body: NewUserBody):  # type: ignore[no-untyped-def]
    """Create a user; the id is assigned after the highest existing one."""
    user = users_service.create_user(get_db(), body.gender, body.year_of_birth)
    return respond(UserOut.model_validate(user), status=201)


@users.delete("/user/<int:user_id>", responses={200: UserDeletedOut, **errors(400, 404, 503)})
def delete_user(path: UserPath):  # type: ignore[no-untyped-def]
    """Delete a user with their ratings and cached recommendations."""
    users_service.delete_user(get_db(), get_cache(), path.user_id)
    return respond(UserDeletedOut(user_id=path.user_id))
