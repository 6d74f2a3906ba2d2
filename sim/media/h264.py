"""A minimal H.264 (Annex B) writer in pure Python: real, decodable video without an encoder library.

Only what a test pattern needs (ITU-T H.264 syntax, Baseline profile, CAVLC):

* SPS / PPS with ``pic_order_cnt_type = 2`` (output order = decoding order), one reference frame, 4-bit frame_num;
* IDR pictures whose every macroblock is ``I_PCM`` (raw 8-bit samples: the picture is exactly the bytes given);
* P pictures made of one ``mb_skip_run`` over all macroblocks (the previous picture repeated);
* access unit delimiters (MPEG-TS carriage of H.264 requires them).

Emulation prevention bytes are inserted, so any sample values are safe. Width and height must be multiples of 16.
"""
from __future__ import annotations

__all__ = ["BitWriter", "nal", "aud", "sps", "pps", "idr_pcm", "p_skip", "START_CODE"]

START_CODE = b"\x00\x00\x00\x01"
NAL_SLICE, NAL_IDR, NAL_SPS, NAL_PPS, NAL_AUD = 1, 5, 7, 8, 9
LOG2_MAX_FRAME_NUM = 4
MB_TYPE_I_PCM = 25
SLICE_P_ALL, SLICE_I_ALL = 5, 7


class BitWriter:
    def __init__(self) -> None:
        self._out = bytearray()
        self._acc = 0   # pending bits, most significant first
        self._n = 0     # number of pending bits (< 8 between calls)

    def u(self, n: int, v: int) -> "BitWriter":
        if v < 0 or v >= 1 << n:
            raise ValueError(f"{v} does not fit {n} bits")
        self._acc = (self._acc << n) | v
        self._n += n
        while self._n >= 8:
            self._n -= 8
            self._out.append((self._acc >> self._n) & 0xFF)
        self._acc &= (1 << self._n) - 1
        return self

    def ue(self, v: int) -> "BitWriter":
        """Unsigned Exp-Golomb: (len-1) zeros, then v+1 in binary."""
        x = v + 1
        return self.u(2 * x.bit_length() - 1, x)

    def se(self, v: int) -> "BitWriter":
        return self.ue(2 * v - 1 if v > 0 else -2 * v)

    def align_zero(self) -> "BitWriter":
        if self._n:
            self.u(8 - self._n, 0)
        return self

    def raw(self, data: bytes) -> "BitWriter":
        if self._n:
            raise ValueError("raw bytes need byte alignment")
        self._out += data
        return self

    def trailing(self) -> "BitWriter":
        """rbsp_trailing_bits: a one, then zeros to the byte boundary."""
        return self.u(1, 1).align_zero()

    def bytes(self) -> bytes:
        if self._n:
            raise ValueError("not byte aligned")
        return bytes(self._out)


def _escape(rbsp: bytes) -> bytes:
    """Insert emulation_prevention_three_byte after two zeros when the next byte is <= 3."""
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def nal(ref_idc: int, nal_type: int, rbsp: bytes) -> bytes:
    return START_CODE + bytes([(ref_idc << 5) | nal_type]) + _escape(rbsp)


def aud(key: bool) -> bytes:
    return nal(0, NAL_AUD, BitWriter().u(3, 0 if key else 1).trailing().bytes())


def _mbs(width: int, height: int) -> tuple[int, int]:
    if width % 16 or height % 16 or width <= 0 or height <= 0:
        raise ValueError("width and height must be positive multiples of 16")
    return width // 16, height // 16


def sps(width: int, height: int) -> bytes:
    mw, mh = _mbs(width, height)
    w = BitWriter().u(8, 66).u(8, 0xC0).u(8, 30)  # Baseline, constraint_set0/1, level 3.0
    w.ue(0)                          # seq_parameter_set_id
    w.ue(LOG2_MAX_FRAME_NUM - 4)     # log2_max_frame_num_minus4
    w.ue(2)                          # pic_order_cnt_type
    w.ue(1)                          # max_num_ref_frames
    w.u(1, 0)                        # gaps_in_frame_num_value_allowed_flag
    w.ue(mw - 1).ue(mh - 1)          # pic_width_in_mbs_minus1, pic_height_in_map_units_minus1
    w.u(1, 1).u(1, 1)                # frame_mbs_only_flag, direct_8x8_inference_flag
    w.u(1, 0).u(1, 0)                # frame_cropping_flag, vui_parameters_present_flag
    return nal(3, NAL_SPS, w.trailing().bytes())


def pps() -> bytes:
    w = BitWriter().ue(0).ue(0)      # pic_parameter_set_id, seq_parameter_set_id
    w.u(1, 0).u(1, 0)                # entropy_coding_mode_flag (CAVLC), bottom_field_pic_order_in_frame_present
    w.ue(0)                          # num_slice_groups_minus1
    w.ue(0).ue(0)                    # num_ref_idx_l0/l1_default_active_minus1
    w.u(1, 0).u(2, 0)                # weighted_pred_flag, weighted_bipred_idc
    w.se(0).se(0).se(0)              # pic_init_qp_minus26, pic_init_qs_minus26, chroma_qp_index_offset
    w.u(1, 1).u(1, 0).u(1, 0)        # deblocking_filter_control_present, constrained_intra_pred, redundant_pic_cnt
    return nal(3, NAL_PPS, w.trailing().bytes())


def idr_pcm(width: int, height: int, y: bytes, u: bytes, v: bytes, idr_pic_id: int = 0) -> bytes:
    """An IDR picture of raw samples: ``y`` is width*height bytes, ``u``/``v`` (width/2)*(height/2), row-major."""
    mw, mh = _mbs(width, height)
    cw = width // 2
    if len(y) != width * height or len(u) != cw * (height // 2) or len(v) != len(u):
        raise ValueError("plane sizes do not match the picture size (4:2:0)")
    w = BitWriter().ue(0).ue(SLICE_I_ALL).ue(0)  # first_mb_in_slice, slice_type, pic_parameter_set_id
    w.u(LOG2_MAX_FRAME_NUM, 0)                   # frame_num
    w.ue(idr_pic_id & 0xFFFF)                    # idr_pic_id
    w.u(1, 0).u(1, 0)                            # no_output_of_prior_pics_flag, long_term_reference_flag
    w.se(0)                                      # slice_qp_delta
    w.ue(1)                                      # disable_deblocking_filter_idc: off
    for my in range(mh):
        for mx in range(mw):
            w.ue(MB_TYPE_I_PCM).align_zero()     # mb_type, pcm_alignment_zero_bits
            w.raw(b"".join(y[(my * 16 + r) * width + mx * 16:(my * 16 + r) * width + mx * 16 + 16]
                           for r in range(16)))
            for plane in (u, v):
                w.raw(b"".join(plane[(my * 8 + r) * cw + mx * 8:(my * 8 + r) * cw + mx * 8 + 8]
                               for r in range(8)))
    return nal(3, NAL_IDR, w.trailing().bytes())


def p_skip(width: int, height: int, frame_num: int) -> bytes:
    """A P picture that repeats the reference: every macroblock skipped."""
    mw, mh = _mbs(width, height)
    w = BitWriter().ue(0).ue(SLICE_P_ALL).ue(0)
    w.u(LOG2_MAX_FRAME_NUM, frame_num % (1 << LOG2_MAX_FRAME_NUM))
    w.u(1, 0)                                    # num_ref_idx_active_override_flag
    w.u(1, 0)                                    # ref_pic_list_modification_flag_l0
    w.u(1, 0)                                    # adaptive_ref_pic_marking_mode_flag (sliding window)
    w.se(0).ue(1)                                # slice_qp_delta, disable_deblocking_filter_idc
    w.ue(mw * mh)                                # mb_skip_run: the whole picture
    return nal(2, NAL_SLICE, w.trailing().bytes())
