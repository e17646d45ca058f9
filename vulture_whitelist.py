# Names vulture (tests/test_code_quality.py) reports as unused that a framework or library
# calls, each with what calls it: no line numbers, so moving code never rewrites this file. A
# name vulture reports that no framework calls is dead code to remove, not a line to add here.

# logging (app/logs.py): Formatter hooks and the dictConfig factory.
_.formatTime  # logging.Formatter calls it for each record
datefmt  # logging.Formatter.formatTime's parameter
make_formatter  # logging.config.dictConfig's "()" factory

# pydantic (app/settings.py, app/web/zep/inputs.py): configuration and validators.
model_config  # pydantic reads a model's configuration from it
_._url_is_mongodb  # field validators and model validators pydantic runs on Settings
_._empty_data_dir_is_memory_only
_._empty_secret_is_none
_._secret_is_long_enough
_._upper_log_level
_._split_commas
_._origins_are_origins
_._hosts_are_host_names
_._default_page_fits
deleted_at  # Zep's request bodies: fields clients send, accepted and ignored
token_count
mmr_lambda  # MemorySearchPayload: MMR is not done, so its lambda is read and unused

# click (app/web/cli.py): commands and parameter types.
_.convert  # click.ParamType.convert
export_command  # `memql export`, registered by its decorator
import_command  # `memql import`

# Starlette and uvicorn (app/web): hooks and attributes they read.
_.render  # Starlette Response.render
_.should_exit  # uvicorn.Server reads these to stop
_.force_exit
_.timeout_keep_alive_task  # uvicorn's H11Protocol keep-alive timer
ServerThread  # used by tests and the benchmark, outside the scanned folders

# Strawberry (schema/, app/web/graphql_over_ws.py): GraphQL fields, resolvers and extension and
# view hooks, called by name.
_.decode_json  # Strawberry's WebSocket handler decodes each message with it
graphql_transport_ws_handler_class
websocket_adapter_class
_.get_context
_.on_ws_connect
_.process_errors
_.on_stream_result
_.on_parse
_.on_execute
_.on_operation
_.apply  # a field extension's hooks
_.resolve_async
_.delete_session  # mutation and subscription resolvers
_.update_memory
_.delete_memories
_.memory_added
deleted_id  # payload and connection fields, read by GraphQL execution
start_cursor
end_cursor
has_next_page
has_previous_page
edges
page_info
total_count
NOROLE  # an enum member GraphQL serves (app/roles.py)

# Library internals memql sets on purpose.
__class__  # mongomock's cursor of an indexed collection becomes an IndexedCursor
__bool__  # the embedded store's collections refuse truth tests, as pymongo's do
_.remaining_complexity_budget  # graphql-core's overlap rule spends it (budgeted_overlap_rule)
