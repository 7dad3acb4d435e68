"""A Ray address is checked before a sweep is stored: a cluster's host:port, or Ray Client's ray://host:port."""
import socket

import pytest

from core.sweeps.executors import RayUnreachable, check_reachable, host_and_port


@pytest.mark.parametrize("address, expected", [
    ("10.0.0.5:6380", ("10.0.0.5", 6380)),
    ("head", ("head", 6379)),  # a cluster's default port
    ("ray://head:10001", ("head", 10001)),
    ("ray://[::1]:10001", ("::1", 10001)),  # IPv6 in brackets, as gRPC takes it
    ("[::1]", ("::1", 6379)),
])
def test_an_address_names_its_host_and_port(address, expected):
    assert host_and_port(address) == expected


@pytest.mark.parametrize("address, hint", [
    ("ray://head", "give ray://host:port, for example ray://127.0.0.1:10001"),  # Ray Client has no default port
    ("ray://head:10001/", "give ray://host:port"),
    ("head:abc", "give host:port, for example 127.0.0.1:6379"),
])
def test_an_address_without_a_port_it_can_use_is_refused_naming_the_form(address, hint):
    with pytest.raises(RayUnreachable, match=f"Ray's address {address} does not end in a port number") as refused:
        host_and_port(address)
    assert hint in str(refused.value)


def test_a_ray_client_address_with_a_listener_passes_and_one_without_is_refused():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        check_reachable(f"ray://127.0.0.1:{port}")
    with pytest.raises(RayUnreachable, match=f"Ray is not reachable at ray://127.0.0.1:{port}"):
        check_reachable(f"ray://127.0.0.1:{port}")
