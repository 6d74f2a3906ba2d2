// SPDX-License-Identifier: MIT
// lpdev devnet contracts — the transcoder pool: addresses sorted by stake, largest first, with a maximum size
// (the protocol's active set, numActiveTranscoders). A linked library, as in the deployed BondingManager, so pool
// operations are DELEGATECALLs into this code. Revert strings are the protocol's sorted list's.
//
// Order: a node goes before the first node whose key is not larger than its own (so among equal stakes the
// newest is first and the oldest is last — the one evicted when the pool is full). Insert positions given as
// hints are used when they are valid, else the list is walked from its head.
pragma solidity ^0.8.9;

library TranscoderPool {
    struct Node {
        uint256 key;
        address nextId; // smaller key
        address prevId; // larger key
    }

    struct List {
        address head; // largest key
        address tail; // smallest key
        uint256 maxSize;
        uint256 size;
        mapping(address => Node) nodes;
    }

    function setMaxSize(List storage self, uint256 _size) public {
        require(_size > self.maxSize, "new max size must be greater than old max size");
        self.maxSize = _size;
    }

    function insert(List storage self, address _id, uint256 _key, address _prevId, address _nextId) public {
        require(self.size < self.maxSize, "list is full");
        require(self.nodes[_id].key == 0, "node already in list");
        require(_id != address(0), "node id is null");
        require(_key > 0, "key is zero");
        (address prev, address next) = _validHint(self, _key, _prevId, _nextId)
            ? (_prevId, _nextId)
            : _position(self, _key);
        self.nodes[_id].key = _key;
        _link(self, prev, _id);
        _link(self, _id, next);
        self.size += 1;
    }

    function remove(List storage self, address _id) public {
        Node storage n = self.nodes[_id];
        require(n.key != 0, "node not in list");
        _link(self, n.prevId, n.nextId);
        delete self.nodes[_id];
        self.size -= 1;
    }

    // A stake change: the node moves to its new place (or leaves the list when the new key is 0).
    function updateKey(List storage self, address _id, uint256 _newKey, address _prevId, address _nextId) public {
        require(self.nodes[_id].key != 0, "node not in list");
        remove(self, _id);
        if (_newKey > 0) {
            insert(self, _id, _newKey, _prevId, _nextId);
        }
    }

    function contains(List storage self, address _id) public view returns (bool) {
        return self.nodes[_id].key > 0;
    }

    function isFull(List storage self) public view returns (bool) {
        return self.size == self.maxSize;
    }

    function getSize(List storage self) public view returns (uint256) {
        return self.size;
    }

    function getMaxSize(List storage self) public view returns (uint256) {
        return self.maxSize;
    }

    function getKey(List storage self, address _id) public view returns (uint256) {
        return self.nodes[_id].key;
    }

    function getFirst(List storage self) public view returns (address) {
        return self.head;
    }

    function getLast(List storage self) public view returns (address) {
        return self.tail;
    }

    function getNext(List storage self, address _id) public view returns (address) {
        return self.nodes[_id].nextId;
    }

    function getPrev(List storage self, address _id) public view returns (address) {
        return self.nodes[_id].prevId;
    }

    // _a then _b, adjacent (the zero address: _b is the head / _a is the tail).
    function _link(List storage self, address _a, address _b) private {
        if (_a == address(0)) {
            self.head = _b;
        } else {
            self.nodes[_a].nextId = _b;
        }
        if (_b == address(0)) {
            self.tail = _a;
        } else {
            self.nodes[_b].prevId = _a;
        }
    }

    // (prev, next) is a place for _key: adjacent nodes with prev.key > _key >= next.key (ends: the head/tail).
    function _validHint(List storage self, uint256 _key, address _prev, address _next) private view returns (bool) {
        if (_prev == address(0) && _next == address(0)) {
            return self.size == 0;
        }
        if (_prev == address(0)) {
            return self.head == _next && _key >= self.nodes[_next].key;
        }
        if (_next == address(0)) {
            return self.tail == _prev && self.nodes[_prev].key > _key;
        }
        return self.nodes[_prev].nextId == _next && self.nodes[_prev].key > _key && _key >= self.nodes[_next].key;
    }

    function _position(List storage self, uint256 _key) private view returns (address prev, address next) {
        next = self.head;
        while (next != address(0) && self.nodes[next].key > _key) {
            prev = next;
            next = self.nodes[next].nextId;
        }
    }
}
