from netlesson import constants


def test_constants_keep_the_seed_names_and_values():
    assert constants.ip_port == ("127.0.0.1", 8081)
    assert constants.buffer_size == 1024
    assert constants.back_log == 5
    assert constants.encoding == "utf-8"


def test_str_to_byte_and_back_round_trips_chinese_text():
    text = "你好, socketserver"
    data = constants.str_to_byte(text)
    assert data == text.encode("utf-8")
    assert constants.byte_to_str(data) == text


def test_byte_to_str_is_strict_like_the_seed():
    import pytest

    with pytest.raises(UnicodeDecodeError):
        constants.byte_to_str(b"\xff\xfe")
