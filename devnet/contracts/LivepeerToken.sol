// SPDX-License-Identifier: MIT
// lpdev devnet contracts — LPT, the staking token: an ERC-20 ("Livepeer Token", "LPT", 18 decimals) with the L2
// token's role-based mint and burn (DEFAULT_ADMIN_ROLE grants MINTER_ROLE and BURNER_ROLE). Bonding moves LPT from
// the delegator to the Minter (transferFrom after approve); withdrawStake moves it back.
pragma solidity ^0.8.9;

contract LivepeerToken {
    bytes32 public constant DEFAULT_ADMIN_ROLE = 0x00;
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    bytes32 public constant BURNER_ROLE = keccak256("BURNER_ROLE");

    string public constant name = "Livepeer Token";
    string public constant symbol = "LPT";
    uint8 public constant decimals = 18;

    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    mapping(bytes32 => mapping(address => bool)) internal roles;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);
    event Mint(address indexed to, uint256 amount);
    event Burn(address indexed burner, uint256 amount);

    modifier onlyRole(bytes32 _role) {
        require(roles[_role][msg.sender], "AccessControl: account is missing role");
        _;
    }

    // The deployer administers the roles and may mint (the devnet's faucet); each of _holders starts with
    // _amount LPT (the dev accounts).
    constructor(address[] memory _holders, uint256 _amount) {
        _grant(DEFAULT_ADMIN_ROLE, msg.sender);
        _grant(MINTER_ROLE, msg.sender);
        for (uint256 i = 0; i < _holders.length; i++) {
            totalSupply += _amount;
            balanceOf[_holders[i]] += _amount;
            emit Transfer(address(0), _holders[i], _amount);
        }
    }

    function hasRole(bytes32 _role, address _account) external view returns (bool) {
        return roles[_role][_account];
    }

    function grantRole(bytes32 _role, address _account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _grant(_role, _account);
    }

    function revokeRole(bytes32 _role, address _account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (roles[_role][_account]) {
            roles[_role][_account] = false;
            emit RoleRevoked(_role, _account, msg.sender);
        }
    }

    function mint(address _to, uint256 _amount) external onlyRole(MINTER_ROLE) {
        require(_to != address(0), "ERC20: mint to the zero address");
        totalSupply += _amount;
        balanceOf[_to] += _amount;
        emit Transfer(address(0), _to, _amount);
        emit Mint(_to, _amount);
    }

    function burn(uint256 _amount) external onlyRole(BURNER_ROLE) {
        _burn(msg.sender, _amount);
        emit Burn(msg.sender, _amount);
    }

    function approve(address _spender, uint256 _amount) external returns (bool) {
        require(_spender != address(0), "ERC20: approve to the zero address");
        allowance[msg.sender][_spender] = _amount;
        emit Approval(msg.sender, _spender, _amount);
        return true;
    }

    function transfer(address _to, uint256 _amount) external returns (bool) {
        _transfer(msg.sender, _to, _amount);
        return true;
    }

    // As the OpenZeppelin 4.4.1 ERC20 the protocol's token builds on: the transfer (and its balance check) first,
    // then the allowance check, then the reduced allowance with an Approval event.
    function transferFrom(address _from, address _to, uint256 _amount) external returns (bool) {
        _transfer(_from, _to, _amount);
        uint256 allowed = allowance[_from][msg.sender];
        require(allowed >= _amount, "ERC20: transfer amount exceeds allowance");
        allowance[_from][msg.sender] = allowed - _amount;
        emit Approval(_from, msg.sender, allowed - _amount);
        return true;
    }

    function _transfer(address _from, address _to, uint256 _amount) internal {
        require(_from != address(0), "ERC20: transfer from the zero address");
        require(_to != address(0), "ERC20: transfer to the zero address");
        uint256 balance = balanceOf[_from];
        require(balance >= _amount, "ERC20: transfer amount exceeds balance");
        balanceOf[_from] = balance - _amount;
        balanceOf[_to] += _amount;
        emit Transfer(_from, _to, _amount);
    }

    function _burn(address _from, uint256 _amount) internal {
        uint256 balance = balanceOf[_from];
        require(balance >= _amount, "ERC20: burn amount exceeds balance");
        balanceOf[_from] = balance - _amount;
        totalSupply -= _amount;
        emit Transfer(_from, address(0), _amount);
    }

    function _grant(bytes32 _role, address _account) internal {
        if (!roles[_role][_account]) {
            roles[_role][_account] = true;
            emit RoleGranted(_role, _account, msg.sender);
        }
    }
}
