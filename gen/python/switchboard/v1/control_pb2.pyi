from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
EDGE_ERROR_CODE_BAD_REPLY: EdgeErrorCode
EDGE_ERROR_CODE_INVALID: EdgeErrorCode
EDGE_ERROR_CODE_OVERLOADED: EdgeErrorCode
EDGE_ERROR_CODE_REPLY_INCOMPLETE: EdgeErrorCode
EDGE_ERROR_CODE_UNSPECIFIED: EdgeErrorCode
EDGE_ERROR_CODE_UNSUPPORTED: EdgeErrorCode
EVENT_KIND_CLIENT_EVENT: EventKind
EVENT_KIND_CONNECT: EventKind
EVENT_KIND_DISCONNECT: EventKind
EVENT_KIND_EDGE_LOST: EventKind
EVENT_KIND_UNSPECIFIED: EventKind
TRANSPORT_POLLING: Transport
TRANSPORT_UNSPECIFIED: Transport
TRANSPORT_WEBSOCKET: Transport

class AckRequest(_message.Message):
    __slots__ = ["ack_token", "args", "args_json", "binary"]
    ACK_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    ack_token: str
    args: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Value]
    args_json: str
    binary: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, ack_token: _Optional[str] = ..., args: _Optional[_Iterable[_Union[_struct_pb2.Value, _Mapping]]] = ..., args_json: _Optional[str] = ..., binary: _Optional[_Iterable[bytes]] = ...) -> None: ...

class AckResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ClientEvent(_message.Message):
    __slots__ = ["ack_token", "args_json", "binary", "data_json", "edge_id", "event", "namespace", "received_at", "sid", "user"]
    ACK_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    EDGE_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ack_token: str
    args_json: str
    binary: _containers.RepeatedScalarFieldContainer[bytes]
    data_json: str
    edge_id: str
    event: str
    namespace: str
    received_at: _timestamp_pb2.Timestamp
    sid: str
    user: str
    def __init__(self, namespace: _Optional[str] = ..., sid: _Optional[str] = ..., user: _Optional[str] = ..., edge_id: _Optional[str] = ..., event: _Optional[str] = ..., args_json: _Optional[str] = ..., binary: _Optional[_Iterable[bytes]] = ..., ack_token: _Optional[str] = ..., received_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., data_json: _Optional[str] = ...) -> None: ...

class ClusterInfoRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ClusterInfoResponse(_message.Message):
    __slots__ = ["control_counters", "control_version", "edges"]
    CONTROL_COUNTERS_FIELD_NUMBER: _ClassVar[int]
    CONTROL_VERSION_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    control_counters: ControlCounters
    control_version: str
    edges: _containers.RepeatedCompositeFieldContainer[Edge]
    def __init__(self, edges: _Optional[_Iterable[_Union[Edge, _Mapping]]] = ..., control_version: _Optional[str] = ..., control_counters: _Optional[_Union[ControlCounters, _Mapping]] = ...) -> None: ...

class CommandError(_message.Message):
    __slots__ = ["code", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class ControlCounters(_message.Message):
    __slots__ = ["bus_errors", "bus_reconnects", "edge_errors", "slow_streams", "stream_events_dropped"]
    BUS_ERRORS_FIELD_NUMBER: _ClassVar[int]
    BUS_RECONNECTS_FIELD_NUMBER: _ClassVar[int]
    EDGE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    SLOW_STREAMS_FIELD_NUMBER: _ClassVar[int]
    STREAM_EVENTS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    bus_errors: int
    bus_reconnects: int
    edge_errors: int
    slow_streams: int
    stream_events_dropped: int
    def __init__(self, slow_streams: _Optional[int] = ..., stream_events_dropped: _Optional[int] = ..., bus_errors: _Optional[int] = ..., bus_reconnects: _Optional[int] = ..., edge_errors: _Optional[int] = ...) -> None: ...

class DisconnectRequest(_message.Message):
    __slots__ = ["close_connection", "target"]
    CLOSE_CONNECTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    close_connection: bool
    target: Target
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ..., close_connection: bool = ...) -> None: ...

class DisconnectResponse(_message.Message):
    __slots__ = ["edge_errors", "missing_edges", "sockets"]
    EDGE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    MISSING_EDGES_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_FIELD_NUMBER: _ClassVar[int]
    edge_errors: _containers.RepeatedCompositeFieldContainer[EdgeError]
    missing_edges: _containers.RepeatedScalarFieldContainer[str]
    sockets: int
    def __init__(self, sockets: _Optional[int] = ..., missing_edges: _Optional[_Iterable[str]] = ..., edge_errors: _Optional[_Iterable[_Union[EdgeError, _Mapping]]] = ...) -> None: ...

class Edge(_message.Message):
    __slots__ = ["address", "connections", "counters", "id", "last_heartbeat", "sockets", "started_at", "version"]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    address: str
    connections: int
    counters: EdgeCounters
    id: str
    last_heartbeat: _timestamp_pb2.Timestamp
    sockets: int
    started_at: _timestamp_pb2.Timestamp
    version: str
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., version: _Optional[str] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., last_heartbeat: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., connections: _Optional[int] = ..., sockets: _Optional[int] = ..., counters: _Optional[_Union[EdgeCounters, _Mapping]] = ...) -> None: ...

class EdgeCounters(_message.Message):
    __slots__ = ["acks_no_responder", "acks_refused", "auth_failures", "bus_dropped", "connects_refused", "namespaces_refused", "operations_dropped", "post_timeouts", "publish_failures", "refused_max_connections", "refused_per_ip", "reply_failures", "room_joins_refused", "slow_consumers", "sockets_omitted", "write_timeouts"]
    ACKS_NO_RESPONDER_FIELD_NUMBER: _ClassVar[int]
    ACKS_REFUSED_FIELD_NUMBER: _ClassVar[int]
    AUTH_FAILURES_FIELD_NUMBER: _ClassVar[int]
    BUS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    CONNECTS_REFUSED_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_REFUSED_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    POST_TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_FAILURES_FIELD_NUMBER: _ClassVar[int]
    REFUSED_MAX_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    REFUSED_PER_IP_FIELD_NUMBER: _ClassVar[int]
    REPLY_FAILURES_FIELD_NUMBER: _ClassVar[int]
    ROOM_JOINS_REFUSED_FIELD_NUMBER: _ClassVar[int]
    SLOW_CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_OMITTED_FIELD_NUMBER: _ClassVar[int]
    WRITE_TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    acks_no_responder: int
    acks_refused: int
    auth_failures: int
    bus_dropped: int
    connects_refused: int
    namespaces_refused: int
    operations_dropped: int
    post_timeouts: int
    publish_failures: int
    refused_max_connections: int
    refused_per_ip: int
    reply_failures: int
    room_joins_refused: int
    slow_consumers: int
    sockets_omitted: int
    write_timeouts: int
    def __init__(self, refused_max_connections: _Optional[int] = ..., refused_per_ip: _Optional[int] = ..., post_timeouts: _Optional[int] = ..., slow_consumers: _Optional[int] = ..., write_timeouts: _Optional[int] = ..., namespaces_refused: _Optional[int] = ..., room_joins_refused: _Optional[int] = ..., acks_refused: _Optional[int] = ..., sockets_omitted: _Optional[int] = ..., bus_dropped: _Optional[int] = ..., operations_dropped: _Optional[int] = ..., publish_failures: _Optional[int] = ..., reply_failures: _Optional[int] = ..., acks_no_responder: _Optional[int] = ..., connects_refused: _Optional[int] = ..., auth_failures: _Optional[int] = ...) -> None: ...

class EdgeDelivery(_message.Message):
    __slots__ = ["dropped_closed", "dropped_slow", "dropped_volatile", "edge_id", "queued", "sockets"]
    DROPPED_CLOSED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_SLOW_FIELD_NUMBER: _ClassVar[int]
    DROPPED_VOLATILE_FIELD_NUMBER: _ClassVar[int]
    EDGE_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_FIELD_NUMBER: _ClassVar[int]
    dropped_closed: int
    dropped_slow: int
    dropped_volatile: int
    edge_id: str
    queued: int
    sockets: int
    def __init__(self, edge_id: _Optional[str] = ..., sockets: _Optional[int] = ..., queued: _Optional[int] = ..., dropped_volatile: _Optional[int] = ..., dropped_slow: _Optional[int] = ..., dropped_closed: _Optional[int] = ...) -> None: ...

class EdgeError(_message.Message):
    __slots__ = ["code", "edge_id", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    EDGE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: EdgeErrorCode
    edge_id: str
    message: str
    def __init__(self, edge_id: _Optional[str] = ..., code: _Optional[_Union[EdgeErrorCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class EdgeLost(_message.Message):
    __slots__ = ["connections", "edge_id", "heartbeat_interval", "last_heartbeat", "sockets", "started_at"]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    EDGE_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    connections: int
    edge_id: str
    heartbeat_interval: _duration_pb2.Duration
    last_heartbeat: _timestamp_pb2.Timestamp
    sockets: int
    started_at: _timestamp_pb2.Timestamp
    def __init__(self, edge_id: _Optional[str] = ..., sockets: _Optional[int] = ..., connections: _Optional[int] = ..., last_heartbeat: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., heartbeat_interval: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class EmitRequest(_message.Message):
    __slots__ = ["args", "args_json", "binary", "event", "report", "target", "volatile"]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    VOLATILE_FIELD_NUMBER: _ClassVar[int]
    args: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Value]
    args_json: str
    binary: _containers.RepeatedScalarFieldContainer[bytes]
    event: str
    report: bool
    target: Target
    volatile: bool
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ..., event: _Optional[str] = ..., args: _Optional[_Iterable[_Union[_struct_pb2.Value, _Mapping]]] = ..., args_json: _Optional[str] = ..., binary: _Optional[_Iterable[bytes]] = ..., volatile: bool = ..., report: bool = ...) -> None: ...

class EmitResponse(_message.Message):
    __slots__ = ["deliveries", "dropped", "edge_errors", "missing_edges", "queued", "sockets"]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    EDGE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    MISSING_EDGES_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[EdgeDelivery]
    dropped: int
    edge_errors: _containers.RepeatedCompositeFieldContainer[EdgeError]
    missing_edges: _containers.RepeatedScalarFieldContainer[str]
    queued: int
    sockets: int
    def __init__(self, sockets: _Optional[int] = ..., missing_edges: _Optional[_Iterable[str]] = ..., edge_errors: _Optional[_Iterable[_Union[EdgeError, _Mapping]]] = ..., queued: _Optional[int] = ..., dropped: _Optional[int] = ..., deliveries: _Optional[_Iterable[_Union[EdgeDelivery, _Mapping]]] = ...) -> None: ...

class EmitWithAckRequest(_message.Message):
    __slots__ = ["args", "args_json", "binary", "event", "target", "timeout"]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    args: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Value]
    args_json: str
    binary: _containers.RepeatedScalarFieldContainer[bytes]
    event: str
    target: Target
    timeout: _duration_pb2.Duration
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ..., event: _Optional[str] = ..., args: _Optional[_Iterable[_Union[_struct_pb2.Value, _Mapping]]] = ..., args_json: _Optional[str] = ..., binary: _Optional[_Iterable[bytes]] = ..., timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class EmitWithAckResponse(_message.Message):
    __slots__ = ["acks", "edge_errors", "missing_edges", "timed_out_sids"]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    EDGE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    MISSING_EDGES_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_SIDS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[SocketAck]
    edge_errors: _containers.RepeatedCompositeFieldContainer[EdgeError]
    missing_edges: _containers.RepeatedScalarFieldContainer[str]
    timed_out_sids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, acks: _Optional[_Iterable[_Union[SocketAck, _Mapping]]] = ..., timed_out_sids: _Optional[_Iterable[str]] = ..., missing_edges: _Optional[_Iterable[str]] = ..., edge_errors: _Optional[_Iterable[_Union[EdgeError, _Mapping]]] = ...) -> None: ...

class Handshake(_message.Message):
    __slots__ = ["auth_json", "connected_at", "headers", "query", "remote_address", "transport"]
    class HeadersEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class QueryEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AUTH_JSON_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    REMOTE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    auth_json: str
    connected_at: _timestamp_pb2.Timestamp
    headers: _containers.ScalarMap[str, str]
    query: _containers.ScalarMap[str, str]
    remote_address: str
    transport: Transport
    def __init__(self, headers: _Optional[_Mapping[str, str]] = ..., query: _Optional[_Mapping[str, str]] = ..., auth_json: _Optional[str] = ..., remote_address: _Optional[str] = ..., connected_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., transport: _Optional[_Union[Transport, str]] = ...) -> None: ...

class JoinRoomRequest(_message.Message):
    __slots__ = ["rooms", "target"]
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    rooms: _containers.RepeatedScalarFieldContainer[str]
    target: Target
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ..., rooms: _Optional[_Iterable[str]] = ...) -> None: ...

class JoinRoomResponse(_message.Message):
    __slots__ = ["edge_errors", "missing_edges", "sockets", "sockets_full"]
    EDGE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    MISSING_EDGES_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_FULL_FIELD_NUMBER: _ClassVar[int]
    edge_errors: _containers.RepeatedCompositeFieldContainer[EdgeError]
    missing_edges: _containers.RepeatedScalarFieldContainer[str]
    sockets: int
    sockets_full: int
    def __init__(self, sockets: _Optional[int] = ..., missing_edges: _Optional[_Iterable[str]] = ..., sockets_full: _Optional[int] = ..., edge_errors: _Optional[_Iterable[_Union[EdgeError, _Mapping]]] = ...) -> None: ...

class LeaveRoomRequest(_message.Message):
    __slots__ = ["rooms", "target"]
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    rooms: _containers.RepeatedScalarFieldContainer[str]
    target: Target
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ..., rooms: _Optional[_Iterable[str]] = ...) -> None: ...

class LeaveRoomResponse(_message.Message):
    __slots__ = ["edge_errors", "missing_edges", "sockets"]
    EDGE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    MISSING_EDGES_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_FIELD_NUMBER: _ClassVar[int]
    edge_errors: _containers.RepeatedCompositeFieldContainer[EdgeError]
    missing_edges: _containers.RepeatedScalarFieldContainer[str]
    sockets: int
    def __init__(self, sockets: _Optional[int] = ..., missing_edges: _Optional[_Iterable[str]] = ..., edge_errors: _Optional[_Iterable[_Union[EdgeError, _Mapping]]] = ...) -> None: ...

class ListRoomsRequest(_message.Message):
    __slots__ = ["namespace", "page_size", "page_token"]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    page_size: int
    page_token: str
    def __init__(self, namespace: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRoomsResponse(_message.Message):
    __slots__ = ["edge_errors", "missing_edges", "next_page_token", "rooms"]
    EDGE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    MISSING_EDGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    edge_errors: _containers.RepeatedCompositeFieldContainer[EdgeError]
    missing_edges: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    rooms: _containers.RepeatedCompositeFieldContainer[Room]
    def __init__(self, rooms: _Optional[_Iterable[_Union[Room, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., missing_edges: _Optional[_Iterable[str]] = ..., edge_errors: _Optional[_Iterable[_Union[EdgeError, _Mapping]]] = ...) -> None: ...

class ListSocketsRequest(_message.Message):
    __slots__ = ["count_only", "namespace", "page_size", "page_token", "room", "sid", "user"]
    COUNT_ONLY_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    count_only: bool
    namespace: str
    page_size: int
    page_token: str
    room: str
    sid: str
    user: str
    def __init__(self, namespace: _Optional[str] = ..., room: _Optional[str] = ..., user: _Optional[str] = ..., sid: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., count_only: bool = ...) -> None: ...

class ListSocketsResponse(_message.Message):
    __slots__ = ["edge_errors", "missing_edges", "next_page_token", "sockets", "total"]
    EDGE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    MISSING_EDGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    edge_errors: _containers.RepeatedCompositeFieldContainer[EdgeError]
    missing_edges: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    sockets: _containers.RepeatedCompositeFieldContainer[Socket]
    total: int
    def __init__(self, sockets: _Optional[_Iterable[_Union[Socket, _Mapping]]] = ..., missing_edges: _Optional[_Iterable[str]] = ..., edge_errors: _Optional[_Iterable[_Union[EdgeError, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class PipelineRequest(_message.Message):
    __slots__ = ["ack", "disconnect", "emit", "emit_with_ack", "id", "join_room", "leave_room", "set_socket_data"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    DISCONNECT_FIELD_NUMBER: _ClassVar[int]
    EMIT_FIELD_NUMBER: _ClassVar[int]
    EMIT_WITH_ACK_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    JOIN_ROOM_FIELD_NUMBER: _ClassVar[int]
    LEAVE_ROOM_FIELD_NUMBER: _ClassVar[int]
    SET_SOCKET_DATA_FIELD_NUMBER: _ClassVar[int]
    ack: AckRequest
    disconnect: DisconnectRequest
    emit: EmitRequest
    emit_with_ack: EmitWithAckRequest
    id: int
    join_room: JoinRoomRequest
    leave_room: LeaveRoomRequest
    set_socket_data: SetSocketDataRequest
    def __init__(self, id: _Optional[int] = ..., emit: _Optional[_Union[EmitRequest, _Mapping]] = ..., emit_with_ack: _Optional[_Union[EmitWithAckRequest, _Mapping]] = ..., join_room: _Optional[_Union[JoinRoomRequest, _Mapping]] = ..., leave_room: _Optional[_Union[LeaveRoomRequest, _Mapping]] = ..., disconnect: _Optional[_Union[DisconnectRequest, _Mapping]] = ..., set_socket_data: _Optional[_Union[SetSocketDataRequest, _Mapping]] = ..., ack: _Optional[_Union[AckRequest, _Mapping]] = ...) -> None: ...

class PipelineResponse(_message.Message):
    __slots__ = ["ack", "disconnect", "emit", "emit_with_ack", "error", "id", "join_room", "leave_room", "set_socket_data"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    DISCONNECT_FIELD_NUMBER: _ClassVar[int]
    EMIT_FIELD_NUMBER: _ClassVar[int]
    EMIT_WITH_ACK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    JOIN_ROOM_FIELD_NUMBER: _ClassVar[int]
    LEAVE_ROOM_FIELD_NUMBER: _ClassVar[int]
    SET_SOCKET_DATA_FIELD_NUMBER: _ClassVar[int]
    ack: AckResponse
    disconnect: DisconnectResponse
    emit: EmitResponse
    emit_with_ack: EmitWithAckResponse
    error: CommandError
    id: int
    join_room: JoinRoomResponse
    leave_room: LeaveRoomResponse
    set_socket_data: SetSocketDataResponse
    def __init__(self, id: _Optional[int] = ..., error: _Optional[_Union[CommandError, _Mapping]] = ..., emit: _Optional[_Union[EmitResponse, _Mapping]] = ..., emit_with_ack: _Optional[_Union[EmitWithAckResponse, _Mapping]] = ..., join_room: _Optional[_Union[JoinRoomResponse, _Mapping]] = ..., leave_room: _Optional[_Union[LeaveRoomResponse, _Mapping]] = ..., disconnect: _Optional[_Union[DisconnectResponse, _Mapping]] = ..., set_socket_data: _Optional[_Union[SetSocketDataResponse, _Mapping]] = ..., ack: _Optional[_Union[AckResponse, _Mapping]] = ...) -> None: ...

class Room(_message.Message):
    __slots__ = ["name", "sockets"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_FIELD_NUMBER: _ClassVar[int]
    name: str
    sockets: int
    def __init__(self, name: _Optional[str] = ..., sockets: _Optional[int] = ...) -> None: ...

class SetSocketDataRequest(_message.Message):
    __slots__ = ["data", "data_json", "increment", "merge", "target"]
    class IncrementEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DATA_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    INCREMENT_FIELD_NUMBER: _ClassVar[int]
    MERGE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    data: _struct_pb2.Value
    data_json: str
    increment: _containers.ScalarMap[str, int]
    merge: bool
    target: Target
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., data_json: _Optional[str] = ..., merge: bool = ..., increment: _Optional[_Mapping[str, int]] = ...) -> None: ...

class SetSocketDataResponse(_message.Message):
    __slots__ = ["data_json", "edge_errors", "missing_edges", "sockets"]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    EDGE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    MISSING_EDGES_FIELD_NUMBER: _ClassVar[int]
    SOCKETS_FIELD_NUMBER: _ClassVar[int]
    data_json: str
    edge_errors: _containers.RepeatedCompositeFieldContainer[EdgeError]
    missing_edges: _containers.RepeatedScalarFieldContainer[str]
    sockets: int
    def __init__(self, sockets: _Optional[int] = ..., missing_edges: _Optional[_Iterable[str]] = ..., edge_errors: _Optional[_Iterable[_Union[EdgeError, _Mapping]]] = ..., data_json: _Optional[str] = ...) -> None: ...

class Socket(_message.Message):
    __slots__ = ["data_json", "edge_id", "handshake", "namespace", "rooms", "sid", "user"]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    EDGE_ID_FIELD_NUMBER: _ClassVar[int]
    HANDSHAKE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    data_json: str
    edge_id: str
    handshake: Handshake
    namespace: str
    rooms: _containers.RepeatedScalarFieldContainer[str]
    sid: str
    user: str
    def __init__(self, sid: _Optional[str] = ..., namespace: _Optional[str] = ..., rooms: _Optional[_Iterable[str]] = ..., user: _Optional[str] = ..., data_json: _Optional[str] = ..., handshake: _Optional[_Union[Handshake, _Mapping]] = ..., edge_id: _Optional[str] = ...) -> None: ...

class SocketAck(_message.Message):
    __slots__ = ["args_json", "binary", "edge_id", "sid"]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    EDGE_ID_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    args_json: str
    binary: _containers.RepeatedScalarFieldContainer[bytes]
    edge_id: str
    sid: str
    def __init__(self, sid: _Optional[str] = ..., edge_id: _Optional[str] = ..., args_json: _Optional[str] = ..., binary: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SocketConnected(_message.Message):
    __slots__ = ["socket"]
    SOCKET_FIELD_NUMBER: _ClassVar[int]
    socket: Socket
    def __init__(self, socket: _Optional[_Union[Socket, _Mapping]] = ...) -> None: ...

class SocketDisconnected(_message.Message):
    __slots__ = ["data_json", "disconnected_at", "edge_id", "namespace", "reason", "rooms", "sid", "user"]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    DISCONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    EDGE_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    data_json: str
    disconnected_at: _timestamp_pb2.Timestamp
    edge_id: str
    namespace: str
    reason: str
    rooms: _containers.RepeatedScalarFieldContainer[str]
    sid: str
    user: str
    def __init__(self, sid: _Optional[str] = ..., namespace: _Optional[str] = ..., user: _Optional[str] = ..., edge_id: _Optional[str] = ..., rooms: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., disconnected_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., data_json: _Optional[str] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ["events", "kinds", "namespaces", "queue_group"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    QUEUE_GROUP_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedScalarFieldContainer[str]
    kinds: _containers.RepeatedScalarFieldContainer[EventKind]
    namespaces: _containers.RepeatedScalarFieldContainer[str]
    queue_group: str
    def __init__(self, namespaces: _Optional[_Iterable[str]] = ..., events: _Optional[_Iterable[str]] = ..., kinds: _Optional[_Iterable[_Union[EventKind, str]]] = ..., queue_group: _Optional[str] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ["client_event", "connected", "disconnected", "edge_lost"]
    CLIENT_EVENT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    DISCONNECTED_FIELD_NUMBER: _ClassVar[int]
    EDGE_LOST_FIELD_NUMBER: _ClassVar[int]
    client_event: ClientEvent
    connected: SocketConnected
    disconnected: SocketDisconnected
    edge_lost: EdgeLost
    def __init__(self, client_event: _Optional[_Union[ClientEvent, _Mapping]] = ..., connected: _Optional[_Union[SocketConnected, _Mapping]] = ..., disconnected: _Optional[_Union[SocketDisconnected, _Mapping]] = ..., edge_lost: _Optional[_Union[EdgeLost, _Mapping]] = ...) -> None: ...

class Target(_message.Message):
    __slots__ = ["all", "except_rooms", "namespace", "rooms", "sids", "users"]
    ALL_FIELD_NUMBER: _ClassVar[int]
    EXCEPT_ROOMS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    SIDS_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    all: bool
    except_rooms: _containers.RepeatedScalarFieldContainer[str]
    namespace: str
    rooms: _containers.RepeatedScalarFieldContainer[str]
    sids: _containers.RepeatedScalarFieldContainer[str]
    users: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, namespace: _Optional[str] = ..., rooms: _Optional[_Iterable[str]] = ..., except_rooms: _Optional[_Iterable[str]] = ..., sids: _Optional[_Iterable[str]] = ..., users: _Optional[_Iterable[str]] = ..., all: bool = ...) -> None: ...

class EdgeErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Transport(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
