from google.protobuf import struct_pb2 as _struct_pb2
from switchboard.v1 import control_pb2 as _control_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuthorizeRequest(_message.Message):
    __slots__ = ["auth_json", "edge_id", "headers", "namespace", "query", "remote_address", "transport"]
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
    EDGE_ID_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    REMOTE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    auth_json: bytes
    edge_id: str
    headers: _containers.ScalarMap[str, str]
    namespace: str
    query: _containers.ScalarMap[str, str]
    remote_address: str
    transport: _control_pb2.Transport
    def __init__(self, namespace: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., query: _Optional[_Mapping[str, str]] = ..., auth_json: _Optional[bytes] = ..., remote_address: _Optional[str] = ..., edge_id: _Optional[str] = ..., transport: _Optional[_Union[_control_pb2.Transport, str]] = ...) -> None: ...

class AuthorizeResponse(_message.Message):
    __slots__ = ["allow", "deny"]
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    DENY_FIELD_NUMBER: _ClassVar[int]
    allow: ConnectAllow
    deny: ConnectDeny
    def __init__(self, allow: _Optional[_Union[ConnectAllow, _Mapping]] = ..., deny: _Optional[_Union[ConnectDeny, _Mapping]] = ...) -> None: ...

class ConnectAllow(_message.Message):
    __slots__ = ["data", "rooms", "user"]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    data: _struct_pb2.Value
    rooms: _containers.RepeatedScalarFieldContainer[str]
    user: str
    def __init__(self, user: _Optional[str] = ..., rooms: _Optional[_Iterable[str]] = ..., data: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class ConnectDeny(_message.Message):
    __slots__ = ["data", "message"]
    DATA_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    data: _struct_pb2.Value
    message: str
    def __init__(self, message: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
